//go:build windows

package hermes

import "os"

// openNonBlocking: Windows has no FIFOs in the file system; named pipes
// live under \\.\pipe\ and are refused by the Stat check before this.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
