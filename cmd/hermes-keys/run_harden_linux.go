package main

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// hardenRun makes run non-dumpable (PR_SET_DUMPABLE 0): no core dump, no
// ptrace attach and no /proc/<pid>/mem for other processes of the user,
// while run holds the vault key or what it opened. The flag is not
// inherited across exec: CMD (Hermes) is dumpable as before.
func hardenRun(errOut io.Writer) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(errOut, "hermes-keys: warning: could not make run's memory unreadable to other processes: %v\n", err)
	}
}

// afterChildStart sets run's own core size limit to 0 once CMD has
// started: CMD inherited the limit it had (its `ulimit -c` is unchanged),
// and run, should a kernel set to dump non-dumpable processes
// (fs.suid_dumpable=1) be asked to, writes no core. Before CMD starts,
// non-dumpability alone keeps the core away.
func afterChildStart() {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &rl) == nil {
		rl.Cur = 0
		unix.Setrlimit(unix.RLIMIT_CORE, &rl)
	}
}
