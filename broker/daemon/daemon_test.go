//go:build !windows

package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

const testPass = "correct horse battery staple"

// syncBuffer is the daemon's log in tests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	dir      string
	identity string
	env      iox.Env
}

// newFixture makes a file-backend vault holding canary records.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".hermes", broker.DirName)
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE": testPass})
	b, err := backends.Open("file", backends.Config{Env: env, Dir: dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, _, err := broker.Create(ctx, dir, b, broker.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
		now := v.Now()
		c.Put("providers/openai-codex", broker.KindProvider, []byte(`{"tokens":{"access_token":"CANARY-at-1","refresh_token":"CANARY-rt-1"}}`), now)
		c.Put("env/OPENROUTER_API_KEY", broker.KindEnv, []byte(`"CANARY-or-root"`), now)
		c.Put("env/OTHER", broker.KindEnv, []byte(`"CANARY-other"`), now)
		c.Put("profiles/work/env/OPENROUTER_API_KEY", broker.KindEnv, []byte(`"CANARY-or-work"`), now)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	id, err := v.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, identity: id, env: env}
}

// directVault opens the fixture's vault as another process would (the CLI).
func (f *fixture) directVault(t testing.TB) *broker.Vault {
	t.Helper()
	b, err := backends.Open("file", backends.Config{Env: f.env, Dir: f.dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, err := broker.Open(f.dir, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetIdentity(f.identity); err != nil {
		t.Fatal(err)
	}
	return v
}

// shortTempDir is a directory with a path short enough for a socket.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type running struct {
	srv  *Server
	sock string
	log  *syncBuffer
	stop func()
}

func startDaemon(t testing.TB, f *fixture, tune func(*Options)) *running {
	t.Helper()
	log := &syncBuffer{}
	opts := Options{Dir: f.dir, Socket: filepath.Join(shortTempDir(t), "hermes-keys", SocketName), Log: log, Version: "test"}
	if tune != nil {
		tune(&opts)
	}
	srv, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &running{srv: srv, sock: srv.Addr(), log: log, stop: stop}
}

func dial(t testing.TB, sock string) *Client {
	t.Helper()
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func unlockedDaemon(t testing.TB, tune func(*Options)) (*fixture, *running, *Client) {
	t.Helper()
	f := newFixture(t)
	d := startDaemon(t, f, tune)
	c := dial(t, d.sock)
	if err := c.UnlockPassphrase(context.Background(), []byte(testPass), 0); err != nil {
		t.Fatal(err)
	}
	return f, d, c
}

func code(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

func TestGetEnvPutStatus(t *testing.T) {
	ctx := context.Background()
	f, d, c := unlockedDaemon(t, nil)

	val, gen, err := c.Get(ctx, "openai-codex.tokens.access_token", "")
	if err != nil || string(val) != `"CANARY-at-1"` || gen != 1 {
		t.Fatalf("get field: %s %d %v", val, gen, err)
	}
	val, _, err = c.Get(ctx, "openai-codex", "")
	if err != nil || !strings.Contains(string(val), `"refresh_token":"CANARY-rt-1"`) {
		t.Fatalf("get block: %s %v", val, err)
	}
	// A profile sees its own env records only (Hermes loads only the
	// profile's .env).
	if val, _, err = c.Get(ctx, "env:OPENROUTER_API_KEY", "work"); err != nil || string(val) != `"CANARY-or-work"` {
		t.Fatalf("profile get: %s %v", val, err)
	}
	env, err := c.Env(ctx, "work")
	if err != nil || env["OPENROUTER_API_KEY"] != "CANARY-or-work" || len(env) != 1 {
		t.Fatalf("env: %v %v", env, err)
	}
	// Missing: not_found, exit 3, a sentinel the CLI knows.
	for _, ref := range []string{"env:NOPE", "nous", "openai-codex.tokens.id_token", "pool:anthropic/abc"} {
		_, _, err := c.Get(ctx, ref, "")
		if code(err) != CodeNotFound || !errors.Is(err, broker.ErrNotFound) || ExitCode(code(err)) != 3 {
			t.Errorf("get %s: %v (code %q)", ref, err, code(err))
		}
	}
	if _, _, err := c.Get(ctx, "../etc", ""); code(err) != CodeBadRequest || ExitCode(code(err)) != 2 {
		t.Errorf("bad ref: %v", err)
	}

	// put with generation checks.
	g, err := c.Put(ctx, "env:NEW_KEY", "", json.RawMessage(`"CANARY-new"`), 0)
	if err != nil || g != 1 {
		t.Fatalf("put new: %d %v", g, err)
	}
	_, err = c.Put(ctx, "env:NEW_KEY", "", json.RawMessage(`"CANARY-new2"`), 0)
	if code(err) != CodeGeneration || !errors.Is(err, broker.ErrGeneration) {
		t.Fatalf("conflicting put: %v", err)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatal("error holds a secret")
	}
	if g, err = c.Put(ctx, "env:NEW_KEY", "", json.RawMessage(`"CANARY-new2"`), 1); err != nil || g != 2 {
		t.Fatalf("put at 1: %d %v", g, err)
	}
	if g, err = c.Put(ctx, "openai-codex", "work", json.RawMessage(`{"tokens": {"access_token": "CANARY-w"}}`), -1); err != nil || g != 1 {
		t.Fatalf("unconditional profile put: %d %v", g, err)
	}
	for _, bad := range []struct{ ref, val string }{
		{"env:X", `{"a":1}`}, {"env:X", `"two\nlines"`}, {"openai-codex", `"a string"`}, {"openai-codex.tokens", `{}`},
	} {
		if _, err := c.Put(ctx, bad.ref, "", json.RawMessage(bad.val), -1); code(err) != CodeBadRequest {
			t.Errorf("put %s %s: %v", bad.ref, bad.val, err)
		}
	}
	// The puts reached the file, under the vault's lock.
	cc, err := f.directVault(t).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := cc.Records["env/NEW_KEY"]; r == nil || string(r.Value) != `"CANARY-new2"` || r.Generation != 2 {
		t.Fatalf("vault after put: %+v", r)
	}
	if r := cc.Records["profiles/work/providers/openai-codex"]; r == nil || string(r.Value) != `{"tokens":{"access_token":"CANARY-w"}}` {
		t.Fatalf("profile put: %+v", r)
	}

	st, err := c.Status(ctx)
	if err != nil || st.Locked || st.VaultID == "" || st.Clients != 1 || st.MaxClients != 64 {
		t.Fatalf("status: %+v %v", st, err)
	}
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), "CANARY") || strings.Contains(string(raw), "AGE-SECRET-KEY") {
		t.Fatal("status holds a secret")
	}
	if strings.Contains(d.log.String(), "CANARY") || strings.Contains(d.log.String(), "AGE-SECRET-KEY") {
		t.Fatalf("log holds a secret:\n%s", d.log)
	}

	// A client naming another vault is refused.
	other := dial(t, d.sock)
	other.Vault = "0000000000000000"
	if _, _, err := other.Get(ctx, "openai-codex", ""); code(err) != CodeVaultMismatch {
		t.Fatalf("vault mismatch: %v", err)
	}
	other.Vault = st.VaultID
	if _, _, err := other.Get(ctx, "openai-codex", ""); err != nil {
		t.Fatalf("matching vault id: %v", err)
	}
}

func TestLockUnlock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := startDaemon(t, f, nil)
	c := dial(t, d.sock)

	st, err := c.Status(ctx)
	if err != nil || !st.Locked || st.AutoUnlock {
		t.Fatalf("fresh daemon: %+v %v", st, err)
	}
	_, _, err = c.Get(ctx, "openai-codex", "")
	if code(err) != CodeLocked || !errors.Is(err, backends.ErrLocked) || ExitCode(code(err)) != 4 {
		t.Fatalf("locked get: %v", err)
	}
	if _, err := c.Env(ctx, ""); code(err) != CodeLocked {
		t.Fatalf("locked env: %v", err)
	}
	if _, err := c.Put(ctx, "env:A", "", json.RawMessage(`"x"`), -1); code(err) != CodeLocked {
		t.Fatalf("locked put: %v", err)
	}

	// Wrong passphrase; a vault key offered by the client is refused
	// whatever it is (the daemon takes none), and never echoed.
	if err := c.UnlockPassphrase(ctx, []byte("CANARY-wrong-pass"), 0); code(err) != CodeBadPassphrase || !errors.Is(err, backends.ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := c.Do(ctx, &Request{Op: OpUnlock, Identity: f.identity}); code(err) != CodeBadRequest || strings.Contains(err.Error(), "AGE-SECRET") {
		t.Fatalf("unlock with the vault key itself: %v", err)
	}
	// Without a passphrase the daemon reads its own backend: this one has
	// none (no Unlocker), so it stays locked.
	if err := c.Unlock(ctx, 0); code(err) != CodeLocked {
		t.Fatalf("unlock without a backend: %v", err)
	}
	if st, _ := c.Status(ctx); !st.Locked {
		t.Fatal("a failed unlock unlocked")
	}

	// The passphrase unlocks it (the daemon opens identity.age).
	if err := c.UnlockPassphrase(ctx, []byte(testPass), 0); err != nil {
		t.Fatalf("passphrase unlock: %v", err)
	}
	if _, _, err := c.Get(ctx, "openai-codex", ""); err != nil {
		t.Fatalf("get after unlock: %v", err)
	}
	// There is no op that hands out the key: "identity" is unknown.
	if _, err := c.Do(ctx, &Request{Op: "identity"}); code(err) != CodeBadRequest {
		t.Fatalf("identity op: %v", err)
	}
	if err := c.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "openai-codex", ""); code(err) != CodeLocked {
		t.Fatalf("get after lock: %v", err)
	}
	for _, s := range []string{testPass, f.identity, "CANARY"} {
		if strings.Contains(d.log.String(), s) {
			t.Fatalf("log holds a secret:\n%s", d.log)
		}
	}
	if !strings.Contains(d.log.String(), "unlocked the vault with a passphrase from pid ") {
		t.Errorf("the unlock's log line does not name the peer:\n%s", d.log)
	}
}

// TestUnlockReadsTheDaemonsBackend: an unlock without a passphrase makes
// the daemon read the key itself, even with --no-auto-unlock.
func TestUnlockReadsTheDaemonsBackend(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var calls atomic.Int32
	d := startDaemon(t, f, func(o *Options) {
		o.NoAutoUnlock = true
		o.Unlocker = func(ctx context.Context) (string, error) {
			calls.Add(1)
			return f.identity, nil
		}
	})
	c := dial(t, d.sock)
	if _, _, err := c.Get(ctx, "openai-codex", ""); code(err) != CodeLocked || calls.Load() != 0 {
		t.Fatalf("no-auto-unlock daemon unlocked itself: %v (%d reads)", err, calls.Load())
	}
	if err := c.Unlock(ctx, 0); err != nil || calls.Load() != 1 {
		t.Fatalf("unlock: %v (%d reads)", err, calls.Load())
	}
	if _, _, err := c.Get(ctx, "openai-codex", ""); err != nil {
		t.Fatalf("get after unlock: %v", err)
	}
	if !strings.Contains(d.log.String(), "unlocked the vault from its backend, asked by pid ") {
		t.Errorf("log:\n%s", d.log)
	}
}

func TestAutoUnlockAndExplicitLock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var calls atomic.Int32
	d := startDaemon(t, f, func(o *Options) {
		o.Unlocker = func(ctx context.Context) (string, error) {
			calls.Add(1)
			return f.identity, nil
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(d.sock)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_, _, err = c.Get(ctx, "openai-codex", "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("8 concurrent gets on a locked daemon called the unlocker %d times, want 1", n)
	}
	c := dial(t, d.sock)
	if err := c.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	// After an explicit lock the daemon stays locked.
	if _, _, err := c.Get(ctx, "openai-codex", ""); code(err) != CodeLocked {
		t.Fatalf("get after explicit lock: %v", err)
	}
	if st, _ := c.Status(ctx); !st.Locked || st.AutoUnlock {
		t.Fatalf("status after lock: %+v", st)
	}
	if calls.Load() != 1 {
		t.Fatal("explicit lock was undone by auto-unlock")
	}
}

func TestAutoUnlockFailureIsLocked(t *testing.T) {
	f := newFixture(t)
	d := startDaemon(t, f, func(o *Options) {
		o.Unlocker = func(ctx context.Context) (string, error) {
			return "", fmt.Errorf("%w: no passphrase available", backends.ErrLocked)
		}
	})
	c := dial(t, d.sock)
	if _, _, err := c.Get(context.Background(), "openai-codex", ""); code(err) != CodeLocked {
		t.Fatalf("get: %v", err)
	}
	if !strings.Contains(d.log.String(), "could not read the vault key") {
		t.Fatalf("log: %s", d.log)
	}
}

// eventually polls cond until it holds, failing after a generous bound (a
// liveness bound, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdleTimeoutForgets(t *testing.T) {
	ctx := context.Background()
	_, d, c := unlockedDaemon(t, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	if _, _, err := c.Get(ctx, "openai-codex", ""); err != nil {
		t.Fatal(err)
	}
	// status is not use: polling it does not keep the key.
	eventually(t, "idle daemon forgets the key", func() bool {
		st, err := c.Status(ctx)
		return err == nil && st.Locked
	})
	if _, _, err := c.Get(ctx, "openai-codex", ""); code(err) != CodeLocked {
		t.Fatalf("get after idle: %v", err)
	}
	if !strings.Contains(d.log.String(), "without use") {
		t.Fatalf("log: %s", d.log)
	}
}

func TestUnlockTTL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := startDaemon(t, f, func(o *Options) { o.IdleTimeout = -1 })
	c := dial(t, d.sock)
	if err := c.UnlockPassphrase(ctx, []byte(testPass), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ttl runs out", func() bool {
		_, _, err := c.Get(ctx, "openai-codex", "") // use does not extend a ttl
		return code(err) == CodeLocked
	})
}

// TestSeesOtherWriters: the cache follows vault.age when another process
// (the CLI, Hermes through run) writes it.
func TestSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	f, _, c := unlockedDaemon(t, nil)
	direct := f.directVault(t)
	for i := 2; i < 6; i++ {
		want := fmt.Sprintf(`"CANARY-at-%d"`, i)
		if _, err := direct.Update(ctx, func(cc *broker.Contents) (bool, error) {
			return true, cc.PutIf("providers/openai-codex", broker.KindProvider,
				json.RawMessage(`{"tokens":{"access_token":`+want+`}}`), uint64(i-1), direct.Now())
		}); err != nil {
			t.Fatal(err)
		}
		val, gen, err := c.Get(ctx, "openai-codex.tokens.access_token", "")
		if err != nil || string(val) != want || gen != uint64(i) {
			t.Fatalf("after write %d: %s gen %d %v", i, val, gen, err)
		}
	}
}

// rawConn is a connection that speaks the protocol by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, sock string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (r *rawConn) roundTrip(t *testing.T, line string) Response {
	t.Helper()
	if _, err := r.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	return r.read(t)
}

func (r *rawConn) read(t *testing.T) Response {
	t.Helper()
	b, err := r.r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read response: %v (got %q)", err, b)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return resp
}

// closed reports whether the daemon closed the connection.
func (r *rawConn) closed(t *testing.T) bool {
	t.Helper()
	_, err := r.r.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func stillServes(t *testing.T, sock string) {
	t.Helper()
	c := dial(t, sock)
	if _, _, err := c.Get(context.Background(), "openai-codex.tokens.access_token", ""); err != nil {
		t.Fatalf("daemon stopped serving: %v", err)
	}
}

func TestMalformedLines(t *testing.T) {
	_, d, _ := unlockedDaemon(t, nil)
	r := rawDial(t, d.sock)
	cases := []struct {
		line string
		id   int64
		code string
	}{
		{"not json", 0, CodeBadRequest},
		{"", 0, CodeBadRequest},
		{"[1,2]", 0, CodeBadRequest},
		{`{"v":1,"id":3,"op":"get"`, 0, CodeBadRequest},
		{`{"v":1,"id":4,"op":"get","ref":"x"} trailing`, 0, CodeBadRequest},
		{`{"v":2,"id":5,"op":"ping"}`, 5, CodeVersion},
		{`{"id":6,"op":"ping"}`, 6, CodeVersion},
		{`{"v":1,"id":7,"op":"launch"}`, 7, CodeBadRequest},
		{`{"v":1,"id":8,"op":"get"}`, 8, CodeBadRequest},
		{`{"v":1,"id":9,"op":"get","ref":42}`, 9, CodeBadRequest},
		{`{"v":1,"id":"ten","op":"ping"}`, 0, CodeBadRequest},
		{`{"v":1,"id":11,"op":"unlock","passphrase":"CANARY-pass","identity":"AGE-SECRET-KEY-CANARY"}`, 11, CodeBadRequest},
		{`{"v":1,"id":14,"op":"identity"}`, 14, CodeBadRequest},
		{`{"v":1,"id":15,"op":"seal"}`, 15, CodeBadRequest},
		{`{"v":1,"id":16,"op":"seal","changes":[{"expect":1}]}`, 16, CodeBadRequest},
		{`{"v":1,"id":12,"op":"put","ref":"env:A"}`, 12, CodeBadRequest},
		{`{"v":1,"id":13,"op":"get","ref":"openai-codex","profile":"../../etc"}`, 13, CodeBadRequest},
		{`{"v":1,"id":-1,"op":"ping"}`, 0, CodeBadRequest},
		{"\x00\xff\xfe", 0, CodeBadRequest},
	}
	for _, tc := range cases {
		resp := r.roundTrip(t, tc.line)
		if resp.OK || resp.Code != tc.code || resp.ID != tc.id || resp.V != 1 || resp.Error == "" {
			t.Errorf("%q: %+v", tc.line, resp)
		}
		if strings.Contains(resp.Error, "CANARY") {
			t.Errorf("%q: the error echoes the request: %s", tc.line, resp.Error)
		}
	}
	// The same connection still works, and so does another client.
	if resp := r.roundTrip(t, `{"v":1,"id":99,"op":"ping"}`); !resp.OK || resp.ID != 99 {
		t.Fatalf("ping after garbage: %+v", resp)
	}
	if resp := r.roundTrip(t, `{"v":1,"id":100,"op":"get","ref":"env:OTHER","unknown_field":true}`); !resp.OK || string(resp.Value) != `"CANARY-other"` {
		t.Fatalf("unknown fields are ignored: %+v", resp)
	}
	stillServes(t, d.sock)
	if strings.Contains(d.log.String(), "CANARY") {
		t.Fatalf("log holds a secret:\n%s", d.log)
	}
}

func TestOversizedLine(t *testing.T) {
	_, d, _ := unlockedDaemon(t, nil)
	r := rawDial(t, d.sock)
	go func() {
		// The daemon stops reading after 1 MiB: the rest may fail to send.
		big := append([]byte(`{"v":1,"id":1,"op":"get","ref":"`), bytes.Repeat([]byte("a"), MaxLine+10)...)
		r.Write(append(big, "\"}\n"...))
	}()
	resp := r.read(t)
	if resp.OK || resp.Code != CodeTooLarge {
		t.Fatalf("oversized: %+v", resp)
	}
	if !r.closed(t) {
		t.Fatal("connection left open after an oversized line")
	}
	// Exactly at the limit is still a request (answered, not cut).
	r2 := rawDial(t, d.sock)
	pad := MaxLine - len(`{"v":1,"id":2,"op":"ping","ref":""}`) - 1
	line := `{"v":1,"id":2,"op":"ping","ref":"` + strings.Repeat("b", pad) + `"}`
	if resp := r2.roundTrip(t, line); !resp.OK || resp.ID != 2 {
		t.Fatalf("line of exactly 1 MiB: %+v", resp)
	}
	stillServes(t, d.sock)
}

func TestSlowLorisCut(t *testing.T) {
	_, d, _ := unlockedDaemon(t, func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
	r := rawDial(t, d.sock)
	// Dribble a request one byte at a time, never finishing it; every byte
	// arrives well within the deadline, the line never does.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		req := []byte(`{"v":1,"id":1,"op":"get","ref":"openai-codex"` + strings.Repeat(" ", 10000))
		for _, b := range req {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := r.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	resp := r.read(t)
	if resp.OK || resp.Code != CodeTimeout {
		t.Fatalf("slow client: %+v", resp)
	}
	if !r.closed(t) {
		t.Fatal("slow client not disconnected")
	}
	if !strings.Contains(d.log.String(), "no complete request line") {
		t.Fatalf("log: %s", d.log)
	}
	stillServes(t, d.sock)
}

func TestMaxClients(t *testing.T) {
	ctx := context.Background()
	_, d, first := unlockedDaemon(t, func(o *Options) { o.QueueWait = 50 * time.Millisecond })
	clients := []*Client{first}
	for len(clients) < DefaultMaxClients {
		c := dial(t, d.sock)
		if err := c.Ping(ctx); err != nil { // answered: it holds a slot
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	extra := dial(t, d.sock)
	err := extra.Ping(ctx)
	if code(err) != CodeBusy {
		t.Fatalf("client 65: %v", err)
	}
	st, err := first.Status(ctx)
	if err != nil || st.Clients != DefaultMaxClients {
		t.Fatalf("status: %+v %v", st, err)
	}
	clients[10].Close()
	eventually(t, "a freed slot is given to a new client", func() bool {
		c, err := Dial(d.sock)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Ping(ctx) == nil
	})
}

func TestSingleInstanceAndStaleSocket(t *testing.T) {
	f := newFixture(t)
	d := startDaemon(t, f, nil)
	fi, err := os.Stat(d.sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(d.sock)); di.Mode().Perm() != 0o700 {
		t.Fatalf("socket dir mode %v", di.Mode())
	}
	_, err = Listen(Options{Dir: f.dir, Socket: d.sock})
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second daemon: %v", err)
	}
	stillServes2 := dial(t, d.sock)
	if err := stillServes2.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.stop()
	if _, err := os.Lstat(d.sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after stop: %v", err)
	}

	// A stale socket (its daemon died without removing it) is replaced.
	ln, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(d.sock); err != nil {
		t.Fatal("no stale socket to test with")
	}
	d2 := startDaemon(t, f, func(o *Options) { o.Socket = d.sock })
	if err := dial(t, d2.sock).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	d2.stop()

	// A file that is not a socket is left alone.
	os.WriteFile(d.sock, []byte("mine"), 0o600)
	if _, err := Listen(Options{Dir: f.dir, Socket: d.sock}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file at the socket path: %v", err)
	}
	if b, _ := os.ReadFile(d.sock); string(b) != "mine" {
		t.Fatal("a regular file at the socket path was changed")
	}
}

func TestSocketPath(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HERMES_KEYS_SOCKET": "/x/s.sock", "XDG_RUNTIME_DIR": "/run/user/1"}, "/x/s.sock"},
		{map[string]string{"XDG_RUNTIME_DIR": "/run/user/1"}, "/run/user/1/hermes-keys/broker.sock"},
		{map[string]string{"XDG_RUNTIME_DIR": "relative"}, "/h/.hermes/hermes-keys/broker.sock"},
		{map[string]string{}, "/h/.hermes/hermes-keys/broker.sock"},
	}
	for _, tc := range cases {
		if got := SocketPath(iox.MapEnv(tc.env), "/h/.hermes"); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestNoVaultNoDaemon(t *testing.T) {
	_, err := Listen(Options{Dir: filepath.Join(t.TempDir(), "none"), Socket: filepath.Join(shortTempDir(t), "s.sock")})
	if !errors.Is(err, broker.ErrNoVault) {
		t.Fatalf("listen without a vault: %v", err)
	}
}

func TestShutdownClosesClients(t *testing.T) {
	_, d, c := unlockedDaemon(t, nil)
	d.stop()
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("client still served after shutdown")
	}
}
