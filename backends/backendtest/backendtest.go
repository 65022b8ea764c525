// Package backendtest is the conformance suite every backend must pass, the
// fake and the real stores alike, so that a backend is interchangeable with
// any other: the vault must not care which one holds its key. It is modelled
// on tailscale's storetest.
//
// Values are canary strings; every error the suite sees is checked for the
// canary, because a secret in an error message ends up in logs and bug
// reports.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
)

// Require decides whether a real-backend suite runs. env=1 means the machine
// was provisioned for it (scripts/test does that), and then the backend must
// work or the test fails. Without it the suite cannot run: in CI (CI=true)
// that fails the run, elsewhere it is skipped with a notice nobody can miss.
func Require(t *testing.T, env, backend string) {
	t.Helper()
	if os.Getenv(env) == "1" {
		return
	}
	why := fmt.Sprintf("%s is not 1, so no real %s was provisioned", env, backend)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s suite cannot run in CI: %s (run it through scripts/test)", backend, why)
	}
	t.Skipf("REAL BACKEND SUITE SKIPPED: %s: %s; scripts/test provisions it", backend, why)
}

// Run exercises b through its public methods. The caller has decided b is
// usable; a failing Probe fails the suite.
func Run(t *testing.T, b *backends.Backend) {
	t.Helper()
	s := newSuite(t, b)
	if err := b.Probe(t.Context()); err != nil {
		s.noLeak(t, err)
		t.Fatalf("%s: probe: %v", b.Name, err)
	}
	t.Run("set-get", s.setGet)
	t.Run("overwrite", s.overwrite)
	t.Run("delete", s.delete)
	t.Run("not-found", s.notFound)
	t.Run("too-big", s.tooBig)
	t.Run("exact-limit", s.exactLimit)
	t.Run("concurrent", s.concurrent)
	t.Run("deadline", s.deadline)
	t.Run("cancelled", s.cancelled)
}

type suite struct {
	b      *backends.Backend
	canary string // random, in every value; never in an error
	prefix string // unique account prefix for this run

	mu   sync.Mutex
	used []string
}

func newSuite(t *testing.T, b *backends.Backend) *suite {
	s := &suite{
		b:      b,
		canary: "CANARY" + randHex(8),
		prefix: fmt.Sprintf("vault:bt-%d-%s", os.Getpid(), randHex(4)),
	}
	t.Cleanup(func() {
		for _, a := range s.used {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := b.Delete(ctx, a)
			cancel()
			if err != nil && !errors.Is(err, backends.ErrNotFound) {
				t.Errorf("cleanup: delete %s: %v", a, err)
			}
		}
	})
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// account returns a fresh account name, removed at the end of the suite.
func (s *suite) account(name string) string {
	a := s.prefix + "-" + name
	s.mu.Lock()
	s.used = append(s.used, a)
	s.mu.Unlock()
	return a
}

// value is n bytes: the canary, a tag telling values apart, then filler.
func (s *suite) value(tag string, n int) string {
	unit := s.canary + "-" + tag + "-"
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// noLeak fails the test if err carries the canary. The message is not
// printed: it holds the secret.
func (s *suite) noLeak(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), s.canary) {
		t.Errorf("%s: an error message contains the secret value (%d bytes long, not shown)", s.b.Name, len(err.Error()))
	}
}

func (s *suite) set(t *testing.T, account, v string) {
	t.Helper()
	if err := s.b.Set(t.Context(), account, v); err != nil {
		s.noLeak(t, err)
		t.Fatalf("set %s (%d bytes): %v", account, len(v), err)
	}
}

func (s *suite) wantValue(t *testing.T, account, want string) {
	t.Helper()
	got, err := s.b.Get(t.Context(), account)
	s.noLeak(t, err)
	if err != nil {
		t.Fatalf("get %s: %v", account, err)
	}
	if got != want {
		t.Fatalf("get %s: got %d bytes %s, want %d bytes %s", account, len(got), describe(got, s.canary), len(want), describe(want, s.canary))
	}
}

func (s *suite) wantNotFound(t *testing.T, op string, err error) {
	t.Helper()
	s.noLeak(t, err)
	if !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("%s: want ErrNotFound, got %v", op, err)
	}
}

func (s *suite) wantTooBig(t *testing.T, account string, n int) {
	t.Helper()
	err := s.b.Set(t.Context(), account, s.value("big", n))
	s.noLeak(t, err)
	if !errors.Is(err, backends.ErrTooBig) {
		t.Fatalf("set %d bytes with limit %d: want ErrTooBig, got %v", n, s.b.Limit, err)
	}
}

// describe says how a value differs from a canary value without printing it.
func describe(v, canary string) string {
	switch {
	case v == "":
		return "(empty)"
	case strings.HasPrefix(v, canary):
		tag, _, _ := strings.Cut(strings.TrimPrefix(v, canary+"-"), "-")
		return fmt.Sprintf("(canary value tagged %q)", tag)
	default:
		return "(not a value this suite wrote)"
	}
}

func (s *suite) setGet(t *testing.T) {
	for _, n := range []int{100, 6144} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := s.account(fmt.Sprintf("size%d", n))
			v := s.value(fmt.Sprint(n), n)
			if s.b.Limit > 0 && n > s.b.Limit {
				s.wantTooBig(t, a, n)
				_, err := s.b.Get(t.Context(), a)
				s.wantNotFound(t, "get after refused set", err)
				return
			}
			s.set(t, a, v)
			s.wantValue(t, a, v)
		})
	}
	// Two accounts are two items.
	a, b := s.account("pair-a"), s.account("pair-b")
	va, vb := s.value("a", 100), s.value("b", 100)
	s.set(t, a, va)
	s.set(t, b, vb)
	s.wantValue(t, a, va)
	s.wantValue(t, b, vb)
}

func (s *suite) overwrite(t *testing.T) {
	a := s.account("overwrite")
	long, short := s.value("first", 300), s.value("second", 100)
	s.set(t, a, long)
	s.set(t, a, short) // shorter: nothing of the first may remain
	s.wantValue(t, a, short)
	s.set(t, a, long)
	s.wantValue(t, a, long)
}

func (s *suite) delete(t *testing.T) {
	a := s.account("delete")
	s.set(t, a, s.value("del", 100))
	if err := s.b.Delete(t.Context(), a); err != nil {
		s.noLeak(t, err)
		t.Fatalf("delete %s: %v", a, err)
	}
	_, err := s.b.Get(t.Context(), a)
	s.wantNotFound(t, "get after delete", err)
	s.wantNotFound(t, "second delete", s.b.Delete(t.Context(), a))
}

func (s *suite) notFound(t *testing.T) {
	a := s.account("never-set")
	_, err := s.b.Get(t.Context(), a)
	s.wantNotFound(t, "get missing", err)
	s.wantNotFound(t, "delete missing", s.b.Delete(t.Context(), a))
}

func (s *suite) tooBig(t *testing.T) {
	if s.b.Limit <= 0 {
		t.Skipf("%s declares no size limit", s.b.Name)
	}
	a := s.account("too-big")
	v := s.value("kept", 100)
	s.set(t, a, v)
	s.wantTooBig(t, a, s.b.Limit+1)
	s.wantValue(t, a, v) // refused, not truncated, and the old value intact
}

func (s *suite) exactLimit(t *testing.T) {
	if s.b.Limit <= 0 || s.b.Limit > 64<<10 {
		t.Skipf("limit %d: too large to write cheaply on every run", s.b.Limit)
	}
	a := s.account("exact")
	v := s.value("exact", s.b.Limit)
	s.set(t, a, v)
	s.wantValue(t, a, v)
}

// concurrent: 8 goroutines, each with its own account, all also writing one
// shared account. The shared value must end as one of the writes, whole.
func (s *suite) concurrent(t *testing.T) {
	const n = 8
	shared := s.account("shared")
	var written []string
	errs := make(chan error, 4*n)
	var wg sync.WaitGroup
	for i := range n {
		own := s.account(fmt.Sprintf("own%d", i))
		ownV := s.value(fmt.Sprintf("own%d", i), 100+i)
		sharedV := s.value(fmt.Sprintf("shared%d", i), 200+i)
		written = append(written, sharedV)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := t.Context()
			if err := s.b.Set(ctx, own, ownV); err != nil {
				errs <- fmt.Errorf("set %s: %w", own, err)
				return
			}
			if err := s.b.Set(ctx, shared, sharedV); err != nil {
				errs <- fmt.Errorf("set %s: %w", shared, err)
			}
			got, err := s.b.Get(ctx, own)
			switch {
			case err != nil:
				errs <- fmt.Errorf("get %s: %w", own, err)
			case got != ownV:
				errs <- fmt.Errorf("get %s: got %s, want its own value", own, describe(got, s.canary))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		s.noLeak(t, err)
		t.Error(err)
	}
	got, err := s.b.Get(t.Context(), shared)
	s.noLeak(t, err)
	if err != nil {
		t.Fatalf("get %s: %v", shared, err)
	}
	if !slices.Contains(written, got) {
		t.Fatalf("shared account holds %d bytes %s: not one of the values written", len(got), describe(got, s.canary))
	}
}

// deadline: a store that never answers is cut off by Guard with ErrTimeout,
// whatever the holder does with its context.
func (s *suite) deadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	g := backends.Guard(s.b.Name, hung(release), s.b.Limit, 50*time.Millisecond)
	a := s.account("hung")
	ops := map[string]func(context.Context) error{
		"get":    func(ctx context.Context) error { _, err := g.Get(ctx, a); return err },
		"set":    func(ctx context.Context) error { return g.Set(ctx, a, s.value("hung", 100)) },
		"delete": func(ctx context.Context) error { return g.Delete(ctx, a) },
		"probe":  func(ctx context.Context) error { return g.Probe(ctx) },
	}
	for name, op := range ops {
		err := op(t.Context())
		s.noLeak(t, err)
		if !errors.Is(err, backends.ErrTimeout) {
			t.Errorf("%s on a hung store: want ErrTimeout, got %v", name, err)
		}
	}
}

// hung is a store that blocks every call until the channel closes, ignoring
// its context as a hung D-Bus peer would.
type hung chan struct{}

func (h hung) Get(ctx context.Context, a string) (string, error) { <-h; return "", ctx.Err() }
func (h hung) Set(ctx context.Context, a, v string) error        { <-h; return ctx.Err() }
func (h hung) Delete(ctx context.Context, a string) error        { <-h; return ctx.Err() }
func (h hung) Probe(ctx context.Context) error                   { <-h; return ctx.Err() }

// cancelled: the real store, called with a context already cancelled,
// reports an error instead of doing the call.
func (s *suite) cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := s.account("cancelled")
	_, err := s.b.Get(ctx, a)
	s.wantErr(t, "get", err)
	s.wantErr(t, "set", s.b.Set(ctx, a, s.value("cancelled", 100)))
	s.wantErr(t, "delete", s.b.Delete(ctx, a))
	s.wantErr(t, "probe", s.b.Probe(ctx))
}

func (s *suite) wantErr(t *testing.T, op string, err error) {
	t.Helper()
	s.noLeak(t, err)
	if err == nil {
		t.Errorf("%s with a cancelled context: no error", op)
	}
}
