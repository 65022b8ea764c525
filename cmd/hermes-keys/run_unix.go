//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"golang.org/x/sys/unix"
)

// forwarded are the signals run passes on to CMD.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGWINCH,
	syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func isExecutable(fi os.FileInfo) bool { return fi.Mode()&0o111 != 0 }

// runChild runs argv and returns its exit status (128+N when killed by
// signal N).
//
// On a terminal, CMD gets its own process group and the terminal's
// foreground, so the keys the user types (^C, ^\) and window size changes
// reach CMD once, from the terminal; the signals run itself receives come
// from kill(1) or a supervisor and are forwarded. ^Z stops CMD; run then
// takes the terminal back and stops itself, so the shell's job control
// sees the job stop, and on `fg` hands the terminal back and continues
// CMD. Without a terminal, CMD stays in run's process group and every
// signal run receives is forwarded.
func runChild(_ context.Context, a *App, argv []string, env []string, session *os.File) (int, error) {
	path, err := lookPath(argv[0])
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.IO.In, a.IO.Out, a.IO.ErrOut
	// CMD inherits the session's lock (as fd 3): if run is killed while
	// Hermes goes on (no parent-death signal off Linux, or Hermes ignores
	// it), the session stays live and nothing scrubs the store under it.
	if session != nil {
		cmd.ExtraFiles = []*os.File{session}
	}
	attr := &syscall.SysProcAttr{}
	if runtime.GOOS == "linux" {
		setPdeathsig(attr) // never leave CMD running on tokens nobody seals
	}
	tty := -1
	if f, ok := a.IO.In.(*os.File); ok && a.IO.InTTY {
		if pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP); err == nil && pg == unix.Getpgrp() {
			tty = int(f.Fd())
			attr.Setpgid, attr.Foreground, attr.Ctty = true, true, tty
		}
	}
	cmd.SysProcAttr = attr

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if tty >= 0 {
		signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN) // to take the terminal back
		defer signal.Reset(syscall.SIGTTOU, syscall.SIGTTIN)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
			return 0, xerr.WithCode(fmt.Errorf("%s: cannot run: %w", argv[0], err), 126)
		}
		return 0, xerr.WithCode(fmt.Errorf("%s: %w", argv[0], err), 127)
	}
	pid := cmd.Process.Pid
	afterChildStart() // run_harden_*.go: CMD kept its core limit; run's goes to 0
	done := make(chan unix.WaitStatus, 1)
	stopped := make(chan struct{}, 1)
	cont := make(chan struct{})
	go func() {
		for {
			var ws unix.WaitStatus
			_, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				done <- 0xff00 // exited 255: we lost track of it
				return
			}
			if ws.Stopped() {
				stopped <- struct{}{}
				<-cont
				continue
			}
			done <- ws
			return
		}
	}()
	for {
		select {
		case s := <-sigs:
			if tty >= 0 && s == syscall.SIGWINCH {
				continue // CMD's group owns the terminal and got it
			}
			cmd.Process.Signal(s)
		case <-stopped:
			if tty < 0 {
				// Same process group: the job stopped (or someone stopped
				// CMD alone); wait for it to go on.
				cont <- struct{}{}
				continue
			}
			// CMD stopped (^Z): stop the job as the shell expects.
			unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, unix.Getpgrp())
			unix.Kill(0, syscall.SIGSTOP)
			// Continued (`fg` or `bg`): hand the terminal back when we own
			// it, and continue CMD.
			if pg, err := unix.IoctlGetInt(tty, unix.TIOCGPGRP); err == nil && pg == unix.Getpgrp() {
				unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, pid)
			}
			unix.Kill(-pid, syscall.SIGCONT)
			cont <- struct{}{}
		case ws := <-done:
			// Reaped already; Wait only drains the copying goroutines of
			// streams that are not files (its error is ECHILD).
			cmd.Wait()
			if tty >= 0 {
				unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, unix.Getpgrp())
			}
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
	}
}
