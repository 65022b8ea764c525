//go:build unix

package codex

import "syscall"

// openFlags opens for reading only. O_NONBLOCK keeps a FIFO planted where a
// file is expected from blocking the open; for regular files it changes
// nothing.
const openFlags = syscall.O_RDONLY | syscall.O_NONBLOCK
