// Package backends holds the vault key. A backend keeps one small secret per
// account (the vault identity, about 74 bytes) under service "hermes-keys",
// and can say within a deadline whether it is usable right now.
//
// Every backend is reached through Guard, which promises three things the
// underlying stores do not: every call returns by its deadline (a Local
// store bounds its own I/O instead: see Backend.Local), a value over
// the store's limit is refused with ErrTooBig before the store sees it (never
// truncated), and errors come back as the sentinels below so callers can
// branch with errors.Is.
package backends

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Service is the service name every keychain item of hermes-keys lives under.
const Service = "hermes-keys"

// DefaultTimeout bounds each keychain call unless configured otherwise.
const DefaultTimeout = 3 * time.Second

// Sentinel errors. Backends wrap these with %w; callers test with errors.Is.
var (
	ErrNotFound    = errors.New("no such item in the keychain")
	ErrTooBig      = errors.New("value is larger than the backend can hold")
	ErrUnavailable = errors.New("backend unavailable")
	ErrTimeout     = errors.New("keychain did not answer in time")
	// ErrLocked means the secret exists but cannot be opened without a
	// passphrase, and none is available (no source, no terminal).
	ErrLocked = errors.New("vault is locked")
	// ErrBadPassphrase means a passphrase was given and it is wrong.
	ErrBadPassphrase = errors.New("wrong passphrase")
	ErrUnknown       = errors.New("unknown backend")
)

// Holder keeps small secrets by account name. Implementations need not be
// safe against hangs or oversized values: Guard adds both.
type Holder interface {
	Get(ctx context.Context, account string) (string, error)
	Set(ctx context.Context, account, secret string) error
	Delete(ctx context.Context, account string) error
	// Probe reports whether the backend can be used now; nil means usable.
	Probe(ctx context.Context) error
}

// Backend is a guarded Holder with its name and limit.
type Backend struct {
	Name string
	// Limit is the largest secret, in bytes, the store accepts.
	Limit   int
	Timeout time.Duration
	// Persistent is false for stores that forget on reboot (keyctl).
	Persistent bool
	// Local marks a store that talks to no keychain (the file backend): its
	// calls get no deadline from Guard, because what takes the time there
	// is a passphrase typed at a prompt or the scrypt of identity.age, local
	// work that a deadline would only turn into a misleading "keychain did
	// not answer". Such a store applies Timeout itself to what could hang
	// (reading a passphrase file).
	Local bool
	h     Holder
}

// Guard wraps h with a deadline per call and a size check.
func Guard(name string, h Holder, limit int, timeout time.Duration) *Backend {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Backend{Name: name, Limit: limit, Timeout: timeout, Persistent: true, h: h}
}

// Unwrap returns the underlying holder, for tests.
func (b *Backend) Unwrap() Holder { return b.h }

// call runs f in its own goroutine and gives up at the deadline. The
// goroutine may outlive the call (a hung D-Bus peer cannot be interrupted);
// its result channel is buffered so it never blocks on send.
func call[T any](ctx context.Context, b *Backend, op string, f func(context.Context) (T, error)) (T, error) {
	// A caller that has given up must not start a write that would land
	// after it was told the call failed.
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %s: %w", b.Name, op, err)
	}
	if b.Local {
		return f(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, fmt.Errorf("%s: %s: %w after %s", b.Name, op, ErrTimeout, b.Timeout)
		}
		return zero, fmt.Errorf("%s: %s: %w", b.Name, op, ctx.Err())
	}
}

// Get returns the secret stored for account.
func (b *Backend) Get(ctx context.Context, account string) (string, error) {
	return call(ctx, b, "get", func(ctx context.Context) (string, error) { return b.h.Get(ctx, account) })
}

// Set stores secret for account, replacing any earlier value.
func (b *Backend) Set(ctx context.Context, account, secret string) error {
	if b.Limit > 0 && len(secret) > b.Limit {
		return fmt.Errorf("%s: %w: %d bytes, limit %d", b.Name, ErrTooBig, len(secret), b.Limit)
	}
	_, err := call(ctx, b, "set", func(ctx context.Context) (struct{}, error) { return struct{}{}, b.h.Set(ctx, account, secret) })
	return err
}

// Delete removes account. Deleting a missing account returns ErrNotFound.
func (b *Backend) Delete(ctx context.Context, account string) error {
	_, err := call(ctx, b, "delete", func(ctx context.Context) (struct{}, error) { return struct{}{}, b.h.Delete(ctx, account) })
	return err
}

// Probe reports whether the backend is usable, within the deadline.
func (b *Backend) Probe(ctx context.Context) error {
	_, err := call(ctx, b, "probe", func(ctx context.Context) (struct{}, error) { return struct{}{}, b.h.Probe(ctx) })
	return err
}
