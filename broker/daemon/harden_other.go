//go:build !linux && !darwin

package daemon

// HardenProcess does nothing here: the daemon does not run on these
// platforms (see ErrUnsupported).
func HardenProcess() error { return nil }
