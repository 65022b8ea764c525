//go:build !windows

package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"golang.org/x/sys/unix"
)

// listenFDsStart is the first inherited descriptor (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// ListenerFromEnv returns the listener systemd (or launchd-style wrappers
// speaking the same protocol) passed through LISTEN_FDS and LISTEN_PID, or
// nil when the process was not socket-activated. pid is the process's own;
// the variables are meant for it only when LISTEN_PID names it. The caller
// should unset LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES afterwards so that
// children do not take them for their own.
func ListenerFromEnv(env iox.Env, pid int) (net.Listener, error) {
	lp, lf := env.Get("LISTEN_PID"), env.Get("LISTEN_FDS")
	if lp == "" || lf == "" {
		return nil, nil
	}
	if p, err := strconv.Atoi(lp); err != nil || p != pid {
		return nil, nil
	}
	n, err := strconv.Atoi(lf)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a positive count", lf)
	}
	if n > 1 {
		return nil, fmt.Errorf("socket activation: %d sockets passed, want one (one ListenStream= in the .socket unit)", n)
	}
	fd := listenFDsStart
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "LISTEN_FD_3")
	if f == nil {
		return nil, fmt.Errorf("socket activation: descriptor %d is not open", fd)
	}
	defer f.Close() // FileListener dups it
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: descriptor %d: %w", fd, err)
	}
	if _, ok := ln.(*net.UnixListener); !ok {
		ln.Close()
		return nil, fmt.Errorf("socket activation: descriptor %d is not a Unix stream socket", fd)
	}
	return ln, nil
}
