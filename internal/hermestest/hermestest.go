// Package hermestest provides a Hermes stand-in for tests: a Python program
// that reads and rotates tokens the way Hermes's auth store code does
// (fcntl.flock on auth.lock, temp file + rename), and helpers to run it.
package hermestest

import (
	"path/filepath"
	"runtime"
)

// Script returns the path of fakehermes.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "fakehermes.py")
}
