package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const peerCredSupported = true

// peerCred is the uid and pid of the process at the other end, from
// SO_PEERCRED: fixed by the kernel when the connection was made (for a
// client, when the server called listen), not forgeable by the peer.
func peerCred(c *net.UnixConn) (uid, pid int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if serr != nil {
		return -1, 0, serr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// describePeer names a peer for the log: its pid and executable, from
// /proc/<pid>/exe, or its comm when the exe link is closed to us (a
// non-dumpable `hermes-keys run` hides it even from its own user).
func describePeer(pid int) string {
	if pid <= 0 {
		return "pid unknown"
	}
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil {
		return fmt.Sprintf("pid %d, %s", pid, printable(exe))
	}
	if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
		return fmt.Sprintf("pid %d, command %s (executable hidden)", pid, printable(strings.TrimSpace(string(comm))))
	}
	return fmt.Sprintf("pid %d", pid)
}
