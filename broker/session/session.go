// Package session keeps the registry of live `hermes-keys run` wrappers of
// one Hermes root, so concurrent runs share one materialisation and the last
// one out scrubs.
//
// Each live wrapper holds an flock on its own file in the registry
// directory for as long as it lives. The kernel drops that lock when the
// process dies, however it dies, so a crashed wrapper is seen as stale by
// the next caller; nothing depends on PIDs or clean exits.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/safefs"
)

// Registry is the sessions directory of one Hermes root.
type Registry struct {
	Dir string
	// LockTimeout bounds waiting for the registry lock.
	LockTimeout time.Duration
}

// Session is one live wrapper's registration.
type Session struct {
	path string
	lk   *lockfile.Lock
}

const suffix = ".session"

func (r *Registry) lock(ctx context.Context) (*lockfile.Lock, error) {
	// Neither the vault directory nor the registry may be a symbolic link
	// or another user's: their files would be created where it points.
	for _, d := range []string{filepath.Dir(r.Dir), r.Dir} {
		if err := safefs.CheckDir(d); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return nil, err
	}
	d := r.LockTimeout
	if d <= 0 {
		d = 30 * time.Second
	}
	return lockfile.AcquireTimeout(ctx, filepath.Join(r.Dir, "registry.lock"), d)
}

// live counts sessions whose holder is alive. The caller holds the
// registry lock.
func (r *Registry) live(ctx context.Context, except string) (int, error) {
	n, _, err := r.scan(ctx, except)
	return n, err
}

// stale is what crashed wrappers left: their session files and the union
// of the record keys those had recorded (see Session.Record).
type stale struct {
	paths []string
	seen  map[string]bool
}

// scan counts live sessions and reads the stale ones, removing nothing:
// a stale session file is the record that a recovery is due, and goes
// only once that recovery has succeeded (forget).
func (r *Registry) scan(ctx context.Context, except string) (n int, st stale, err error) {
	ents, err := os.ReadDir(r.Dir)
	if err != nil {
		return 0, stale{}, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		p := filepath.Join(r.Dir, e.Name())
		if p == except {
			continue
		}
		probe, err := lockfile.AcquireTimeout(ctx, p, time.Millisecond)
		if errors.Is(err, lockfile.ErrTimeout) {
			n++ // held: its wrapper is alive
			continue
		}
		if err != nil {
			return 0, stale{}, err
		}
		st.paths = append(st.paths, p)
		// Read through the lock's own descriptor: it was opened without
		// following a link.
		if b, err := io.ReadAll(probe.File()); err == nil && len(b) > 0 {
			var keys []string
			if json.Unmarshal(b, &keys) == nil {
				if st.seen == nil {
					st.seen = map[string]bool{}
				}
				for _, k := range keys {
					st.seen[k] = true
				}
			}
		}
		probe.Unlock()
	}
	return n, st, nil
}

// forget removes the session files of crashed wrappers whose recovery has
// just succeeded. The caller still holds the registry lock, so nothing
// joined or left since scan.
func (st stale) forget() {
	for _, p := range st.paths {
		os.Remove(p)
	}
}

// Record writes the record keys the session's documents held at its last
// sync (names only, never values) into its session file. Should the
// wrapper die, the next command recovers with them as the baseline, so a
// logout Hermes made after that sync still reaches the vault. Record(nil)
// clears them: run does that before it scrubs, since a scrubbed store lacks
// every block and must never read as "Hermes removed them all".
func (s *Session) Record(keys map[string]bool) error {
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	sort.Strings(list)
	var b []byte
	if len(list) > 0 {
		b, _ = json.Marshal(list)
	}
	f := s.lk.File()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(b, 0)
	return err
}

// Do runs fn under the registry lock with the number of live sessions and
// of stale ones just cleared (crashed wrappers whose materialised tokens
// may still be in plaintext). Commands that seal or scrub the store run
// inside Do so that no run joins or leaves meanwhile.
func (r *Registry) Do(ctx context.Context, fn func(live, stale int) error) error {
	return r.DoWith(ctx, func(live, stale int, _ map[string]bool) error { return fn(live, stale) })
}

// DoWith is Do that also hands fn the baseline the stale sessions recorded
// (see Session.Record).
func (r *Registry) DoWith(ctx context.Context, fn func(live, stale int, seen map[string]bool) error) error {
	reg, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer reg.Unlock()
	n, st, err := r.scan(ctx, "")
	if err != nil {
		return err
	}
	// The crash records go only after fn (which recovers from them)
	// succeeded: a recovery that failed (a lock timeout, say) must be
	// retried by the next command, with the same baseline.
	if err := fn(n, len(st.paths), st.seen); err != nil {
		return err
	}
	st.forget()
	return nil
}

// File is the session's locked file. Handing it to the wrapped process
// (run does) keeps the session live for as long as that process lives,
// even when the wrapper itself is killed: nothing scrubs the store under a
// Hermes that still runs.
func (s *Session) File() *os.File { return s.lk.File() }

// Join registers a new live session. While the registry lock is held it
// calls first(true) if no other session is live (the caller then
// materialises) or first(false) otherwise. If first fails, the session is
// not registered.
func (r *Registry) Join(ctx context.Context, first func(alone bool) error) (*Session, error) {
	return r.JoinWith(ctx, func(alone bool, _ map[string]bool) error { return first(alone) })
}

// JoinWith is Join that also hands first the baseline crashed sessions
// recorded (nil when there was none): the record keys their documents held
// at their last sync.
func (r *Registry) JoinWith(ctx context.Context, first func(alone bool, seen map[string]bool) error) (*Session, error) {
	reg, err := r.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer reg.Unlock()
	others, st, err := r.scan(ctx, "")
	if err != nil {
		return nil, err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	p := filepath.Join(r.Dir, fmt.Sprintf("%d-%s%s", os.Getpid(), hex.EncodeToString(rnd[:]), suffix))
	lk, err := lockfile.Acquire(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	if err := first(others == 0, st.seen); err != nil {
		lk.Unlock()
		os.Remove(p)
		return nil, err // the crash records stay for the next command
	}
	st.forget()
	return &Session{path: p, lk: lk}, nil
}

// Leave unregisters s. While the registry lock is held it calls
// last(true) if no other session remains live (the caller then seals and
// scrubs), else last(false).
func (r *Registry) Leave(ctx context.Context, s *Session, last func(alone bool) error) error {
	reg, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer reg.Unlock()
	others, err := r.live(ctx, s.path)
	if err != nil {
		return err
	}
	err = last(others == 0)
	os.Remove(s.path)
	s.lk.Unlock()
	return err
}

// ErrLive means a change was refused because a run is live (or crashed and
// is not recovered yet; any command that opens the store recovers it): while Hermes
// runs on materialised tokens its files are the truth, and the next seal
// would overwrite a block changed only in the vault.
var ErrLive = errors.New("a `hermes-keys run` is live")

// WhileNoRun runs fn under the registry lock of the vault directory
// vaultDir, unless a run is live (ErrLive): no run can join, materialise
// the old value, and later seal it over what fn wrote.
func WhileNoRun(ctx context.Context, vaultDir string, timeout time.Duration, fn func() error) error {
	release, err := HoldNoRun(ctx, vaultDir, timeout)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// HoldNoRun takes the registry lock of vaultDir and keeps it until release
// is called, unless a run is live (ErrLive): no run joins meanwhile.
func HoldNoRun(ctx context.Context, vaultDir string, timeout time.Duration) (release func(), err error) {
	r := &Registry{Dir: filepath.Join(vaultDir, "sessions"), LockTimeout: timeout}
	reg, err := r.lock(ctx)
	if err != nil {
		return nil, err
	}
	n, st, err := r.scan(ctx, "")
	switch {
	case err != nil:
	case n > 0:
		err = fmt.Errorf("%w (%d session(s))", ErrLive, n)
	case len(st.paths) > 0:
		err = fmt.Errorf("%w: it ended without cleaning up, and the store may still hold its tokens", ErrLive)
	}
	if err != nil {
		reg.Unlock()
		return nil, err
	}
	return func() { reg.Unlock() }, nil
}
