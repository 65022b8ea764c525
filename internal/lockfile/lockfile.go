// Package lockfile takes the advisory whole-file locks that Hermes and
// hermes-keys agree on: BSD flock on POSIX and LockFileEx on byte 0 on
// Windows. A lock is taken by polling a non-blocking attempt, so a caller
// can always give up at its deadline instead of hanging.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/safefs"
)

// ErrTimeout means the lock was still held by someone else at the deadline.
var ErrTimeout = errors.New("timed out waiting for lock")

// DefaultPoll is how often a held lock is retried, as Hermes does.
const DefaultPoll = 50 * time.Millisecond

// Lock is a held lock; Unlock releases it.
type Lock struct{ f *os.File }

// File is the locked file. A child process that inherits it holds the
// lock too, for as long as it lives (flock belongs to the open file, not
// to the process).
func (l *Lock) File() *os.File { return l.f }

// Acquire opens (creating with mode 0600, never through a symbolic link:
// one gives an error matching safefs.ErrSymlink) path and locks it exclusively,
// retrying every poll until ctx is done.
func Acquire(ctx context.Context, path string, poll time.Duration) (*Lock, error) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	// Never through a symbolic link: a planted auth.lock -> /etc/nologin
	// would otherwise be created with the caller's rights.
	f, err := safefs.OpenNoFollow(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := prepare(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("prepare lock %s: %w", path, err)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return &Lock{f: f}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w %s", ErrTimeout, path)
		case <-t.C:
		}
	}
}

// AcquireTimeout is Acquire with a deadline of d from now.
func AcquireTimeout(ctx context.Context, path string, d time.Duration) (*Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return Acquire(ctx, path, DefaultPoll)
}

// Unlock releases the lock. It is safe to call on a nil Lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
