package hermes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// DefaultLockTimeout is how long a Hermes lock is waited for when the
// caller sets no deadline. Hermes holds auth.lock across token refresh
// calls (up to 25 s on its Codex and xAI paths), so less would fail
// during an ordinary refresh.
const DefaultLockTimeout = 30 * time.Second

// LockPoll is how often a held lock is retried, as Hermes does.
const LockPoll = lockfile.DefaultPoll

// Lock is a held Hermes lock.
type Lock struct {
	l *lockfile.Lock
}

// AcquireLock takes the lock Hermes takes on path (auth.lock,
// nous_auth.lock): BSD flock on POSIX, LockFileEx on byte 0 on Windows,
// polled every 50 ms. It waits for timeout, or until ctx's deadline when
// timeout <= 0 (DefaultLockTimeout when ctx has none). The lock file and
// its directory are created when missing (directory 0700); the file is
// never removed and never written, except the one byte Windows needs.
//
// At the deadline the error wraps ErrLockTimeout and carries exit code
// xerr.ExitLockTimeout and a hint; a cancelled ctx gives ctx's error.
func AcquireLock(ctx context.Context, path string, timeout time.Duration) (*Lock, error) {
	if timeout <= 0 {
		if _, ok := ctx.Deadline(); !ok {
			timeout = DefaultLockTimeout
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the directory of %s: %w", path, err)
	}
	return acquireLock(ctx, path, timeout)
}

// ErrHomeGone: the directory of a home's lock does not exist (a profile
// Hermes deleted or renamed). Profile directories are Hermes's: hermes-keys
// never creates one, not even to hold a lock in it.
var ErrHomeGone = errors.New("the hermes home's directory does not exist")

// AcquireHomeLock is AcquireLock for a lock inside a home's directory
// (auth.lock of a profile): it never creates the directory. When it is
// missing the error wraps ErrHomeGone and no file is created.
func AcquireHomeLock(ctx context.Context, path string, timeout time.Duration) (*Lock, error) {
	if timeout <= 0 {
		if _, ok := ctx.Deadline(); !ok {
			timeout = DefaultLockTimeout
		}
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrHomeGone, filepath.Dir(path))
	}
	l, err := acquireLock(ctx, path, timeout)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		// Removed between the check and the open.
		return nil, fmt.Errorf("%w: %s", ErrHomeGone, filepath.Dir(path))
	}
	return l, err
}

func acquireLock(ctx context.Context, path string, timeout time.Duration) (*Lock, error) {
	lctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	l, err := lockfile.Acquire(lctx, path, LockPoll)
	if errors.Is(err, lockfile.ErrTimeout) {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			return nil, fmt.Errorf("waiting for %s: %w", path, cerr)
		}
		return nil, xerr.WithCode(xerr.Hintf(fmt.Errorf("%w: %s", ErrLockTimeout, path),
			"Hermes holds this lock while it refreshes a token (up to about 30 s); retry, or find the holder with `fuser %s`", path),
			xerr.ExitLockTimeout)
	}
	if err != nil {
		return nil, err
	}
	return &Lock{l: l}, nil
}

// Unlock releases the lock. It is safe on a nil Lock and more than once.
func (l *Lock) Unlock() error {
	if l == nil {
		return nil
	}
	return l.l.Unlock()
}
