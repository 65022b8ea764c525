//go:build windows

package lockfile

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Byte 0, one byte: what Hermes's msvcrt.locking-based lock covers.
func tryLock(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return false, nil
	}
	return false, err
}

func unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}

// prepare gives the lock file the one byte Hermes's msvcrt.locking needs
// to exist before it can lock byte 0.
func prepare(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() > 0 {
		return err
	}
	_, err = f.WriteAt([]byte(" "), 0)
	return err
}
