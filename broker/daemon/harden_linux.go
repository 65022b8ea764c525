package daemon

import "golang.org/x/sys/unix"

// HardenProcess makes the daemon's memory, which holds the vault identity,
// unreadable to other processes of the same user: no ptrace attach, no
// /proc/<pid>/mem, no core dump (PR_SET_DUMPABLE 0). Root still can.
func HardenProcess() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
