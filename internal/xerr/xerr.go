// Package xerr carries the user-facing parts of an error: the remedy shown on
// a "hint:" line and the process exit code. Packages wrap their sentinel
// errors with these so the command layer can print and exit consistently
// without string matching.
//
// Messages are lowercase and never contain a secret value; callers name a
// secret by its place (providers.nous.refresh_token), never by its content.
package xerr

import (
	"errors"
	"fmt"
)

// Exit codes of the command line contract (DESIGN.md §8).
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitNotFound    = 3
	ExitLocked      = 4
	ExitRefused     = 5
	ExitLockTimeout = 6
)

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// WithHint attaches a remedy to err. A nil err stays nil.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: hint}
}

// Hintf is WithHint with a formatted hint.
func Hintf(err error, format string, args ...any) error {
	return WithHint(err, fmt.Sprintf(format, args...))
}

// Hint returns the outermost remedy attached to err, or "".
func Hint(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

type coded struct {
	err  error
	code int
}

func (c *coded) Error() string { return c.err.Error() }
func (c *coded) Unwrap() error { return c.err }

// WithCode attaches an exit code to err. A nil err stays nil.
func WithCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: code}
}

// Code returns the outermost exit code attached to err, 0 for nil, and
// ExitFailed when none was attached.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var c *coded
	if errors.As(err, &c) {
		return c.code
	}
	return ExitFailed
}
