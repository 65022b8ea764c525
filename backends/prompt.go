package backends

import (
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"golang.org/x/term"
)

// readSecret asks on the terminal without echo, like iox.Streams.ReadSecret,
// and promises that the terminal comes back as it was: on return, and on
// ^C (SIGINT), SIGTERM or SIGHUP while the prompt waits, when the process
// restores the terminal's state and exits (130, 143, 129) instead of dying
// with echo off. No deadline applies: a person types at their own pace.
func readSecret(s *iox.Streams, prompt string) ([]byte, error) {
	if s == nil || !s.InTTY || s.InFd < 0 {
		return nil, iox.ErrNoTerminal
	}
	saved, err := term.GetState(s.InFd)
	if err != nil {
		return s.ReadSecret(prompt)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
		term.Restore(s.InFd, saved)
	}()
	go func() {
		select {
		case sig := <-sigs:
			term.Restore(s.InFd, saved)
			io.WriteString(s.ErrOut, "\n")
			os.Exit(128 + signalNumber(sig))
		case <-done:
		}
	}()
	return s.ReadSecret(prompt)
}

func signalNumber(sig os.Signal) int {
	if n, ok := sig.(syscall.Signal); ok {
		return int(n)
	}
	return 2
}
