//go:build !windows

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

type fileOwner struct{ uid, gid int }

func ownerOf(fi fs.FileInfo) *fileOwner {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &fileOwner{uid: int(st.Uid), gid: int(st.Gid)}
}

// apply gives f the owner the replaced file had, when that differs from
// ours. Only root can; for anyone else the owners already match.
func (o *fileOwner) apply(f *os.File) error {
	if o == nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if cur := ownerOf(fi); cur != nil && *cur == *o {
		return nil
	}
	return f.Chown(o.uid, o.gid)
}

func isReadOnlyFS(err error) bool { return errors.Is(err, syscall.EROFS) }
