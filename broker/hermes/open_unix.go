//go:build !windows

package hermes

import (
	"os"
	"syscall"
)

// openNonBlocking opens with O_NONBLOCK so that a FIFO swapped in after
// the Stat check is opened without waiting for a writer; the caller's
// fstat then refuses it.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
