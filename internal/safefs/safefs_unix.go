//go:build unix

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenNoFollow opens path like os.OpenFile, except that a symbolic link
// as its last component is refused (ErrSymlink) instead of followed; with
// O_CREAT, a dangling link is refused too rather than created through.
// The directory part is resolved as usual: callers check it (CheckOwner,
// CheckDir) before they trust it.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" || base == "." || base == ".." {
		return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EINVAL}
	}
	d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(d)
	fd, err := openat(d, base, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return nil, fmt.Errorf("%s %w", path, ErrSymlink)
		}
		if errors.Is(err, unix.EEXIST) && flag&os.O_EXCL != 0 {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s %w", path, ErrSymlink)
			}
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ownerUID returns the uid that owns fi.
func ownerUID(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// CheckOwner refuses path when it (the file a symbolic link at it points
// to) is owned by another uid than the caller's effective uid. A missing
// path is fine: whatever hermes-keys creates there is the caller's.
func CheckOwner(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr == nil {
			// A dangling link: judge the directory it would create into.
			return checkLinkDir(path)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return ownedBy(path, fi)
}

func checkLinkDir(path string) error {
	t, err := os.Readlink(path)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(path), t)
	}
	return CheckOwner(filepath.Dir(t))
}

func ownedBy(path string, fi fs.FileInfo) error {
	uid, ok := ownerUID(fi)
	if me := os.Geteuid(); ok && uid != me {
		return &ForeignOwnerError{Path: path, UID: uid, Caller: me}
	}
	return nil
}

// CheckDir refuses a directory of hermes-keys's own (its vault directory,
// the sessions registry) that is a symbolic link or another uid's. A
// missing one is fine.
func CheckDir(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %w", path, ErrSymlink)
	}
	return ownedBy(path, fi)
}

// CheckLink allows a symbolic link at path only when what it points to is
// the caller's (for a dangling link: the directory it points into). A
// regular file or a missing path passes; so does anything on Windows.
func CheckLink(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	return CheckOwner(path)
}

func openatNoFollow(dir int, name string, flag int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flag|unix.O_NOFOLLOW, perm)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}
