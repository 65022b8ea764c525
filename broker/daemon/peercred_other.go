//go:build !linux && !darwin && !windows

package daemon

import (
	"net"
)

// Other Unix systems: the daemon refuses to start rather than serve peers
// it cannot identify.
const peerCredSupported = false

func peerUID(c *net.UnixConn) (int, error) { return -1, ErrUnsupported }
