// Package atomicfile replaces a file so that a reader sees either the old
// content or the new, never a mix, and a crash at any point leaves one of
// the two on disk: an O_EXCL temp file in the same directory, fsync, rename,
// then fsync of the directory.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Hook, when set (by tests only), is called at each named step of a write;
// crash tests use it to stop the process at an exact point.
var Hook func(step string)

func hook(step string) {
	if Hook != nil {
		Hook(step)
	}
}

// WriteFile atomically replaces path with data, leaving it at perm. If path
// is a symlink, the link's target is replaced and the link is kept.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	if target, lerr := filepath.EvalSymlinks(path); lerr == nil {
		path = target
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+base+".tmp."+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	hook("temp-created")
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	hook("temp-written")
	if runtime.GOOS != "windows" {
		if err = f.Chmod(perm); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	hook("temp-synced")
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	hook("renamed")
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename in it survives a crash. It is a
// no-op on Windows, where directories cannot be opened for sync.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
