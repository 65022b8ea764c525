// Package iox holds what the commands inject instead of touching the process
// directly: the standard streams, the environment and the clock. Nothing
// below cmd/ reads os.Getenv or writes to os.Stdout; it takes these instead,
// so every behaviour can be exercised in-process by tests.
package iox

import (
	"bytes"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Streams are the three standard streams and whether each is a terminal.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	InTTY, OutTTY, ErrTTY bool
	// InFd is the descriptor behind In when it is a terminal, for no-echo reads.
	InFd int
}

// System returns the process streams.
func System() *Streams {
	return &Streams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		InFd:   int(os.Stdin.Fd()),
	}
}

// Test returns streams backed by buffers, none of them a terminal.
func Test() (s *Streams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &Streams{In: in, Out: out, ErrOut: errOut, InFd: -1}, in, out, errOut
}

// ReadSecret reads one line from the terminal without echo. It fails when In
// is not a terminal; callers decide what that means.
func (s *Streams) ReadSecret(prompt string) ([]byte, error) {
	if !s.InTTY || s.InFd < 0 {
		return nil, ErrNoTerminal
	}
	io.WriteString(s.ErrOut, prompt)
	b, err := term.ReadPassword(s.InFd)
	io.WriteString(s.ErrOut, "\n")
	return b, err
}

// ErrNoTerminal is returned when a prompt needs a terminal and there is none.
var ErrNoTerminal = errorString("no terminal to prompt on")

type errorString string

func (e errorString) Error() string { return string(e) }

// Env is the environment as a lookup function.
type Env func(string) string

// SystemEnv reads the process environment.
func SystemEnv() Env { return os.Getenv }

// MapEnv returns an Env backed by m, for tests.
func MapEnv(m map[string]string) Env {
	return func(k string) string { return m[k] }
}

// Get returns the value of k, trimmed of surrounding whitespace.
func (e Env) Get(k string) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e(k))
}

// Clock returns the current time.
type Clock func() time.Time
