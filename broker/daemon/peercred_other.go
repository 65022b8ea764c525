//go:build !linux && !darwin

package daemon

import (
	"net"
)

// Other systems (Windows included): the daemon refuses to start, and the
// client to connect, rather than trust a peer they cannot identify.
const peerCredSupported = false

func peerCred(c *net.UnixConn) (uid, pid int, err error) { return -1, 0, ErrUnsupported }

func describePeer(pid int) string { return "pid unknown" }
