//go:build !linux

package main

import "io"

// hardenRun does nothing here: only Linux has PR_SET_DUMPABLE. (macOS
// keeps other processes out of run's memory without a debugger
// entitlement; Windows by its process ACLs.)
func hardenRun(errOut io.Writer) {}

// afterChildStart does nothing off Linux.
func afterChildStart() {}
