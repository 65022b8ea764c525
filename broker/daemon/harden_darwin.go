package daemon

import "golang.org/x/sys/unix"

// HardenProcess refuses debuggers (PT_DENY_ATTACH), so that another process
// of the same user cannot read the vault identity from the daemon's memory.
func HardenProcess() error { return unix.PtraceDenyAttach() }
