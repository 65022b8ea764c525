//go:build unix

package hermes

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid names a running process (of any user:
// EPERM means it exists). A reused pid reads as alive, which only leaves a
// leftover for later.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
