package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/watch"
)

// hermesWrite replaces path as Hermes does: under lock, a temp file in the
// same directory, fsync, rename. It returns the time of the rename; the
// lock is still held then, so no sync can have read the new file before.
func hermesWrite(b *testing.B, lock, path, content string) time.Time {
	lk, err := hermes.AcquireLock(context.Background(), lock, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer lk.Unlock()
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".auth_%d.tmp", time.Now().UnixNano()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return time.Now()
}

// rotated is the root auth.json and shared Nous store after rotation n,
// with JWT-sized tokens.
func rotated(n int) (auth, shared string) {
	pad := strings.Repeat("x", 1200)
	at := fmt.Sprintf("CANARY-nous-access-%s-%06d", pad, n)
	rt := fmt.Sprintf("CANARY-nous-refresh-%06d", n)
	cx := fmt.Sprintf("CANARY-codex-access-%s-%06d", pad, n)
	auth = fmt.Sprintf(`{"version": 1, "active_provider": "nous", "providers": {
  "nous": {"access_token": %q, "refresh_token": %q, "agent_key": %q, "client_id": "hermes-cli"},
  "openai-codex": {"tokens": {"access_token": %q, "refresh_token": "CANARY-codex-refresh-%06d"}, "auth_mode": "chatgpt"}},
  "hermes_keys": {"sealed": true}}`, at, rt, at, cx, n)
	shared = fmt.Sprintf(`{"access_token": %q, "refresh_token": %q}`, at, rt)
	return auth, shared
}

// BenchmarkLiveSealDelay measures what `hermes-keys run` promises while
// Hermes runs: the delay from a Hermes write (a Nous rotation: the shared
// store, then auth.json, each under its lock with temp file + rename) to
// the moment Live has sealed it into the vault (vault written, fsynced,
// read back). Live runs as run runs it (directory watch, 20 ms settle,
// 2 s re-check); the key holder is the fake backend, as the vault key is
// fetched once per run. Reported: p50-ms, p99-ms, max-ms of the delay;
// ns/op also counts the writes and the check that the vault holds the
// value, and a pause of 0-40 ms between rotations.
func BenchmarkLiveSealDelay(b *testing.B) { liveSealDelay(b, false) }

// BenchmarkLiveSealDelayWithEnv is BenchmarkLiveSealDelay with a migrated
// .env in the home: every sync then also reads the vault's env record
// names and parses .env.
func BenchmarkLiveSealDelayWithEnv(b *testing.B) { liveSealDelay(b, true) }

func liveSealDelay(b *testing.B, withEnv bool) {
	dir := b.TempDir()
	home, err := hermes.Resolve(iox.MapEnv(map[string]string{"HERMES_HOME": dir}), runtime.GOOS, dir, "")
	if err != nil {
		b.Fatal(err)
	}
	auth, shared := rotated(0)
	os.MkdirAll(home.SharedDir, 0o700)
	os.WriteFile(home.AuthPath(), []byte(auth), 0o600)
	os.WriteFile(home.SharedNousPath(), []byte(shared), 0o600)
	kb, _ := backends.NewFake(0)
	v, _, err := broker.Create(context.Background(), filepath.Join(dir, broker.DirName), kb, broker.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	root := NewRoot([]hermes.Home{home}, v, nil)
	if withEnv {
		os.WriteFile(home.EnvPath(), []byte("# keys\nOPENROUTER_API_KEY=sk-or-CANARY-bench-0000\nHERMES_MAX_TURNS=40\n"), 0o600)
		root.Env = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := root.Sync(ctx, SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	present, _, err := root.Materialise(ctx)
	if err != nil {
		b.Fatal(err)
	}
	synced := make(chan time.Time, 64)
	live := &Live{Root: root, Watch: watch.Options{Recheck: 2 * time.Second}, OnSync: func(res *SyncResult, err error) {
		if err != nil {
			b.Error(err)
		}
		if res != nil && res.Wrote {
			synced <- time.Now()
		}
	}}
	live.SetBaseline(present)
	done := make(chan struct{})
	go func() { defer close(done); live.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // the watch is set up

	holds := func(n int) bool {
		c, err := v.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprintf("CANARY-nous-refresh-%06d", n)
		nous, doc := c.Records["providers/nous"], c.Records[hermes.DocSharedNous]
		return nous != nil && doc != nil && strings.Contains(string(nous.Value), want) && strings.Contains(string(doc.Value), want)
	}
	var delays []time.Duration
	n := 0
	for b.Loop() {
		n++
		auth, shared := rotated(n)
		hermesWrite(b, home.SharedNousLockPath(), home.SharedNousPath(), shared)
		written := hermesWrite(b, home.LockPath(), home.AuthPath(), auth)
		deadline := time.After(5 * time.Second)
	wait:
		for {
			select {
			case at := <-synced:
				if at.After(written) && holds(n) {
					delays = append(delays, at.Sub(written))
					break wait
				}
			case <-deadline:
				b.Fatalf("rotation %d not sealed within 5 s", n)
			}
		}
		time.Sleep(time.Duration(n%5) * 10 * time.Millisecond)
	}
	cancel()
	<-done
	slices.Sort(delays)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	q := func(p float64) time.Duration { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
	b.ReportMetric(ms(q(0.50)), "p50-ms")
	b.ReportMetric(ms(q(0.99)), "p99-ms")
	b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
}
