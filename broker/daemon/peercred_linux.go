package daemon

import (
	"net"

	"golang.org/x/sys/unix"
)

const peerCredSupported = true

// peerUID is the uid of the process at the other end, from SO_PEERCRED
// (fixed when the peer connected, not forgeable by it).
func peerUID(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if serr != nil {
		return -1, serr
	}
	return int(cred.Uid), nil
}
