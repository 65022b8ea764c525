//go:build linux

package main

// End-to-end tests of `hermes-keys run` (issue 5): the real binary wraps a
// Hermes stand-in (internal/hermestest/fakehermes.py: json.load without a
// lock to read, fcntl.flock + temp file + rename to rotate) on a real
// vault, with the real Secret Service when scripts/test provisions one
// (HERMES_KEYS_REAL_SECRET_SERVICE=1) and with the file backend always.
// Every token is a canary ("CANARY-..."), and after each run the whole
// Hermes root is scanned for them.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/hermestest"
)

const canary = "CANARY"

// e2eRoot is a Hermes root with a vault, and the environment that opens it.
type e2eRoot struct {
	t       *testing.T
	bin, py string
	root    string
	prof    string // profiles/work
	log     string // fakehermes.py's rotation log (outside the root)
	env     []string
}

const (
	rootAuth = `{
  "version": 1,
  "providers": {
    "openai-codex": {"tokens": {"access_token": "CANARY-codex-access-0000", "refresh_token": "CANARY-codex-refresh-0000"}, "auth_mode": "chatgpt"},
    "nous": {"access_token": "CANARY-nous-access-0000", "refresh_token": "CANARY-nous-refresh-0000", "agent_key": "CANARY-nous-access-0000", "client_id": "hermes-cli"}
  },
  "active_provider": "nous"
}`
	sharedNous = `{"access_token": "CANARY-nous-access-0000", "refresh_token": "CANARY-nous-refresh-0000"}`
	// The profile has its own Codex login and none for Nous: Hermes reads
	// the root's Nous login and writes its rotations through to the root.
	workAuth = `{
  "version": 1,
  "providers": {
    "openai-codex": {"tokens": {"access_token": "CANARY-work-codex-access-0000", "refresh_token": "CANARY-work-codex-refresh-0000"}, "auth_mode": "chatgpt"}
  },
  "active_provider": "openai-codex"
}`
)

// e2eBackends runs fn once per backend: the file backend always, the real
// Secret Service where scripts/test provisioned it (and must, in CI).
func e2eBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{"file", "secret-service"} {
		t.Run(b, func(t *testing.T) {
			if b == "secret-service" {
				backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
			}
			fn(t, b)
		})
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newE2ERoot makes a root (auth.json with Codex and Nous, the shared Nous
// store, profile work with its own Codex login, plus extra files) and
// migrates it with backend.
func newE2ERoot(t *testing.T, backend string, extra map[string]string, migrateArgs ...string) *e2eRoot {
	t.Helper()
	py, err := hermestest.Python()
	if err != nil {
		t.Fatalf("python3 is needed for the Hermes stand-in: %v", err)
	}
	dir := t.TempDir()
	h := &e2eRoot{t: t, bin: buildBinary(t), py: py, root: filepath.Join(dir, ".hermes"), log: filepath.Join(dir, "rotations.log")}
	h.prof = filepath.Join(h.root, "profiles", "work")
	writeFile(t, filepath.Join(h.root, "auth.json"), rootAuth)
	writeFile(t, filepath.Join(h.root, "shared", "nous_auth.json"), sharedNous)
	writeFile(t, filepath.Join(h.prof, "auth.json"), workAuth)
	for rel, s := range extra {
		writeFile(t, filepath.Join(h.root, rel), s)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HERMES_") || k == "DBUS_SESSION_BUS_ADDRESS" && backend != "secret-service" {
			continue
		}
		h.env = append(h.env, kv)
	}
	h.env = append(h.env, "HERMES_HOME="+h.root, "HERMES_KEYS_SOCKET="+filepath.Join(dir, "no-daemon.sock"),
		"PY="+py, "FH="+hermestest.Script(), "LOG="+h.log, "ROOT="+h.root)
	if backend == "file" {
		h.env = append(h.env, "HERMES_KEYS_PASSPHRASE="+testPassphrase, "HERMES_KEYS_TEST_SCRYPT=10", "DBUS_SESSION_BUS_ADDRESS=")
	}
	args := append([]string{"migrate", "--backend", backend, "--all-profiles", "--yes"}, migrateArgs...)
	if code, out, errOut := h.hk(args...); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if backend == "secret-service" {
		t.Cleanup(h.clearKeychainItem)
	}
	h.scan("after migrate")
	return h
}

// clearKeychainItem removes the vault's key from the Secret Service.
func (h *e2eRoot) clearKeychainItem() {
	var meta struct {
		ID string `json:"vault_id"`
	}
	b, err := os.ReadFile(filepath.Join(h.root, "hermes-keys", "vault.json"))
	if err != nil || json.Unmarshal(b, &meta) != nil || meta.ID == "" {
		h.t.Errorf("no vault id to clear the keychain item: %v", err)
		return
	}
	c := exec.Command("secret-tool", "clear", "service", backends.Service, "username", "vault:"+meta.ID)
	c.Env = h.env
	if out, err := c.CombinedOutput(); err != nil {
		h.t.Errorf("secret-tool clear: %v: %s", err, out)
	}
}

// procExit is a finished process's status: 128+N when killed by signal N.
func procExit(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// hk runs hermes-keys to completion (within a minute).
func (h *e2eRoot) hk(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	p := h.start(args...)
	code = p.wait(time.Minute)
	return code, p.out.String(), p.errOut.String()
}

// get returns a sealed value; it fails the test unless found.
func (h *e2eRoot) get(args ...string) string {
	h.t.Helper()
	code, out, errOut := h.hk(append([]string{"get"}, args...)...)
	if code != 0 {
		h.t.Fatalf("get %v: exit %d: %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a hermes-keys process started in the background.
type proc struct {
	t           *testing.T
	cmd         *exec.Cmd
	out, errOut *lockedBuf
	done        chan struct{}
	code        int
}

func (h *e2eRoot) start(args ...string) *proc {
	h.t.Helper()
	return h.startEnv(nil, args...)
}

func (h *e2eRoot) startEnv(extraEnv []string, args ...string) *proc {
	h.t.Helper()
	p := &proc{t: h.t, out: &lockedBuf{}, errOut: &lockedBuf{}, done: make(chan struct{})}
	p.cmd = exec.Command(h.bin, args...)
	p.cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	// A CMD that outlives a killed wrapper holds the output pipes.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		p.code = procExit(p.cmd.Wait())
		close(p.done)
	}()
	h.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%v did not exit within %v\nstdout: %s\nstderr: %s", p.cmd.Args[1:], d, p.out, p.errOut)
		return -1
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// noCanary fails if the output of a command holds a secret.
func noCanary(t *testing.T, what, s string) {
	t.Helper()
	if i := strings.Index(s, canary); i >= 0 {
		t.Errorf("%s holds a secret: %q", what, s[max(0, i-40):min(len(s), i+60)])
	}
}

// scan fails naming every file under the root (temp files, locks,
// sessions and the vault itself included) that holds a canary.
func (h *e2eRoot) scan(when string) {
	h.t.Helper()
	n := 0
	err := filepath.WalkDir(h.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if i := bytes.Index(b, []byte(canary)); i >= 0 {
			rel, _ := filepath.Rel(h.root, p)
			h.t.Errorf("%s: %s holds a secret: %q", when, rel, b[i:min(len(b), i+40)])
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("%s: scan: %v", when, err)
	}
	if n < 4 {
		h.t.Fatalf("%s: scan read only %d files; it looks in the wrong place", when, n)
	}
}

// sessions returns the run registry's session files.
func (h *e2eRoot) sessions() []string {
	m, _ := filepath.Glob(filepath.Join(h.root, "hermes-keys", "sessions", "*.session"))
	return m
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileHas(p, s string) bool {
	b, err := os.ReadFile(p)
	return err == nil && bytes.Contains(b, []byte(s))
}

func (h *e2eRoot) readLog() *hermestest.Log {
	h.t.Helper()
	l, err := hermestest.ReadLog(h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	return l
}

// checkVault asserts that the vault holds the newest pairs fakehermes.py
// logged (the pairs it did not rotate at seq 0), and that unmigrate gives
// the shared Nous store back with the newest Nous pair too.
func (h *e2eRoot) checkVault(l *hermestest.Log) {
	h.t.Helper()
	want := map[string]string{ // get args -> value
		"openai-codex.tokens.access_token":          "CANARY-codex-access-" + hermestest.Seq(l.Latest["openai-codex"]),
		"openai-codex.tokens.refresh_token":         "CANARY-codex-refresh-" + hermestest.Seq(l.Latest["openai-codex"]),
		"nous.access_token":                         "CANARY-nous-access-" + hermestest.Seq(l.Latest["nous"]),
		"nous.refresh_token":                        "CANARY-nous-refresh-" + hermestest.Seq(l.Latest["nous"]),
		"-p work openai-codex.tokens.refresh_token": "CANARY-work-codex-refresh-" + hermestest.Seq(l.Latest["work/openai-codex"]),
		"-p work nous.refresh_token":                "CANARY-nous-refresh-" + hermestest.Seq(l.Latest["nous"]), // root fallback
	}
	for args, w := range want {
		if got := h.get(strings.Fields(args)...); got != w {
			h.t.Errorf("get %s = %s, want %s (the newest pair logged)", args, got, w)
		}
	}
	if code, out, errOut := h.hk("unmigrate", "--all-profiles", "--yes"); code != 0 {
		h.t.Fatalf("unmigrate: exit %d\n%s%s", code, out, errOut)
	}
	var shared struct {
		Refresh string `json:"refresh_token"`
	}
	b, err := os.ReadFile(filepath.Join(h.root, "shared", "nous_auth.json"))
	if err != nil || json.Unmarshal(b, &shared) != nil {
		h.t.Fatalf("shared/nous_auth.json after unmigrate: %v", err)
	}
	if w := "CANARY-nous-refresh-" + hermestest.Seq(l.Latest["nous"]); shared.Refresh != w {
		h.t.Errorf("shared/nous_auth.json holds %s after unmigrate, want %s", shared.Refresh, w)
	}
}

// checkScrubbed asserts the state after the last run left: no secret in
// any file, no shared Nous store, no live session.
func (h *e2eRoot) checkScrubbed(when string) {
	h.t.Helper()
	h.scan(when)
	if _, err := os.Stat(filepath.Join(h.root, "shared", "nous_auth.json")); err == nil {
		h.t.Errorf("%s: shared/nous_auth.json is still there", when)
	}
	if s := h.sessions(); len(s) > 0 {
		h.t.Errorf("%s: sessions left registered: %v", when, s)
	}
	for _, p := range []string{filepath.Join(h.root, "auth.json"), filepath.Join(h.prof, "auth.json")} {
		if !fileHas(p, `"hermes_keys"`) {
			h.t.Errorf("%s: %s lost the sealed marker", when, p)
		}
	}
}

// TestRunE2E: Hermes on profile work (its own Codex login, the root's
// Nous login with write-through, the shared Nous store) and a second
// Hermes on the root rotate their tokens 20 and 10 times a second for 5 s
// under `run -p work`, while readers inside and outside the run load the
// store without a lock. The readers always find every token; no older
// pair ever replaces a newer one; after exit the vault holds the newest
// pair of every store; no file under the root holds a secret; and
// neither run's output nor -v ever showed one.
func TestRunE2E(t *testing.T) {
	e2eBackends(t, func(t *testing.T, backend string) {
		h := newE2ERoot(t, backend, nil)
		// CMD: a reader, and Hermes on the profile and on the root
		// rotating; then it waits for the readers outside to finish.
		const script = `"$PY" "$FH" read --shared --seconds 5.5 --interval 0.005 & r=$!
"$PY" "$FH" rotate --home "$ROOT" --rate 10 --seconds 5 --log "$LOG" & root=$!
"$PY" "$FH" rotate --rate 20 --seconds 5 --log "$LOG" || exit 10
wait $root || exit 11
wait $r || exit 12
while [ ! -e "$1" ]; do sleep 0.02; done
"$PY" "$FH" read --shared || exit 13`
		stop := filepath.Join(t.TempDir(), "stop")
		run := h.start("run", "-p", "work", "-v", "--", "sh", "-c", script, "sh", stop)
		waitFor(t, 10*time.Second, "the first rotations", func() bool { return h.readLog().Rotations >= 5 || run.exited() })
		// Readers outside the run, on the profile (with the root fallback)
		// and on the root.
		var readers []*exec.Cmd
		for _, home := range []string{h.prof, h.root} {
			c := exec.Command(h.py, hermestest.Script(), "read", "--shared", "--home", home, "--seconds", "3", "--interval", "0.005")
			c.Env = h.env
			readers = append(readers, c)
		}
		outs := make([][]byte, len(readers))
		errs := make([]error, len(readers))
		var wg sync.WaitGroup
		for i, c := range readers {
			wg.Go(func() { outs[i], errs[i] = c.CombinedOutput() })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("a reader outside the run (home %s) did not always find its tokens: %v: %s", readers[i].Args[4], err, outs[i])
			}
		}
		writeFile(t, stop, "")
		if code := run.wait(30 * time.Second); code != 0 {
			t.Fatalf("run exited %d (10-13: a rotator or a reader inside failed)\nstdout: %s\nstderr: %s", code, run.out, run.errOut)
		}
		noCanary(t, "run's stdout", run.out.String())
		noCanary(t, "run -v's stderr", run.errOut.String())
		if !strings.Contains(run.errOut.String(), "materialised profiles/work/providers/openai-codex") {
			t.Errorf("run -v did not say it materialised the profile's block:\n%s", run.errOut)
		}

		l := h.readLog()
		for _, r := range l.Regressions {
			t.Errorf("an older pair replaced a newer one: %s", r)
		}
		for _, k := range []string{"openai-codex", "nous", "work/openai-codex"} {
			if l.Latest[k] < 10 {
				t.Fatalf("too few rotations of %s to mean anything: %v", k, l.Latest)
			}
		}
		h.checkScrubbed("after run")
		h.checkVault(l)
		t.Logf("rotations: %v", l.Latest)
	})
}

// TestRunSecondRunKeepsTokens: two concurrent runs share one
// materialisation. When the first exits, the second's Hermes still finds
// its tokens and its rotations are still sealed; the store is scrubbed
// only when the second exits.
func TestRunSecondRunKeepsTokens(t *testing.T) {
	e2eBackends(t, func(t *testing.T, backend string) {
		h := newE2ERoot(t, backend, nil)
		dir := t.TempDir()
		stopA, stopB := filepath.Join(dir, "stop-a"), filepath.Join(dir, "stop-b")
		const wait = `while [ ! -e "$1" ]; do sleep 0.02; done`
		a := h.start("run", "-v", "--", "sh", "-c", `"$PY" "$FH" read --shared || exit 12; `+wait, "sh", stopA)
		waitFor(t, 15*time.Second, "the first run to materialise", func() bool { return len(h.sessions()) == 1 || a.exited() })
		b := h.start("run", "-p", "work", "-v", "--", "sh", "-c", `"$PY" "$FH" read --shared || exit 12; `+wait+`; "$PY" "$FH" read --shared || exit 13`, "sh", stopB)
		waitFor(t, 15*time.Second, "the second run to join", func() bool { return len(h.sessions()) == 2 || b.exited() })

		writeFile(t, stopA, "")
		if code := a.wait(15 * time.Second); code != 0 {
			t.Fatalf("first run exited %d\nstderr: %s", code, a.errOut)
		}
		if !strings.Contains(a.errOut.String(), "another run is live") {
			t.Errorf("the first run out did not say the store stays materialised:\n%s", a.errOut)
		}
		if !fileHas(filepath.Join(h.root, "auth.json"), "CANARY-nous-refresh") || !fileHas(filepath.Join(h.prof, "auth.json"), "CANARY-work-codex") {
			t.Fatal("the first run out scrubbed the store while the second was live")
		}
		// The second run's Hermes reads and rotates; its rotation is sealed.
		for _, args := range [][]string{
			{"read", "--shared", "--home", h.prof, "--seconds", "0.5"},
			{"read", "--shared", "--home", h.root},
			{"rotate-once", "--home", h.prof, "--log", h.log},
		} {
			c := exec.Command(h.py, append([]string{hermestest.Script()}, args...)...)
			c.Env = h.env
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("fakehermes %v after the first run left: %v: %s", args, err, out)
			}
		}
		waitFor(t, 5*time.Second, "the second run to seal a rotation", func() bool {
			code, out, _ := h.hk("get", "-p", "work", "openai-codex.tokens.refresh_token")
			return code == 0 && strings.TrimSpace(out) == "CANARY-work-codex-refresh-0001"
		})

		writeFile(t, stopB, "")
		if code := b.wait(15 * time.Second); code != 0 {
			t.Fatalf("second run exited %d\nstderr: %s", code, b.errOut)
		}
		for _, p := range []*proc{a, b} {
			noCanary(t, "run's stdout", p.out.String())
			noCanary(t, "run -v's stderr", p.errOut.String())
		}
		h.checkScrubbed("after both runs")
		l := h.readLog()
		if l.Latest["nous"] != 1 || l.Latest["work/openai-codex"] != 1 || l.Latest["openai-codex"] != 0 {
			t.Fatalf("unexpected rotations: %v", l.Latest)
		}
		h.checkVault(l)
	})
}

// TestRunSealsRotationsPromptly: with the periodic re-check off, so that
// only the directory watch can notice, every rotation Hermes writes while
// the run lives is in the vault within moments (the target is 250 ms; 2 s
// is allowed here for a loaded CI machine; scripts/bench-run measures).
func TestRunSealsRotationsPromptly(t *testing.T) {
	e2eBackends(t, func(t *testing.T, backend string) {
		h := newE2ERoot(t, backend, nil)
		stop := filepath.Join(t.TempDir(), "stop")
		run := h.start("run", "-p", "work", "--recheck", "1h", "--", "sh", "-c", `while [ ! -e "$1" ]; do sleep 0.02; done`, "sh", stop)
		waitFor(t, 15*time.Second, "the run to start", func() bool { return len(h.sessions()) == 1 || run.exited() })
		var delays []time.Duration
		for i := 1; i <= 8; i++ {
			c := exec.Command(h.py, hermestest.Script(), "rotate-once", "--home", h.prof, "--log", h.log)
			c.Env = h.env
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("rotate-once: %v: %s", err, out)
			}
			t0 := time.Now()
			want := "CANARY-nous-refresh-" + hermestest.Seq(i)
			waitFor(t, 2*time.Second, "rotation "+strconv.Itoa(i)+" to be sealed", func() bool {
				code, out, _ := h.hk("get", "nous.refresh_token")
				return code == 0 && strings.TrimSpace(out) == want
			})
			delays = append(delays, time.Since(t0))
		}
		writeFile(t, stop, "")
		if code := run.wait(15 * time.Second); code != 0 {
			t.Fatalf("run exited %d\n%s", code, run.errOut)
		}
		h.checkScrubbed("after the run")
		t.Logf("rotation to vault, as seen by polling get: %v", delays)
	})
}

// TestRunSIGKILLRecovery kills the wrapper (SIGKILL) while Hermes rotates.
// Its Hermes is told to stop (the parent-death signal); the next
// hermes-keys command, status or another run, finds the crashed session,
// seals and scrubs: nothing rotated is lost, nothing is left in plaintext.
func TestRunSIGKILLRecovery(t *testing.T) {
	e2eBackends(t, func(t *testing.T, backend string) {
		for _, next := range [][]string{{"status"}, {"run", "--", "true"}} {
			t.Run(next[0], func(t *testing.T) {
				h := newE2ERoot(t, backend, nil)
				pidfile := filepath.Join(t.TempDir(), "hermes.pid")
				run := h.start("run", "-p", "work", "--", h.py, hermestest.Script(), "rotate",
					"--rate", "20", "--seconds", "60", "--log", h.log, "--pidfile", pidfile)
				waitFor(t, 15*time.Second, "20 rotations", func() bool { return h.readLog().Rotations >= 20 || run.exited() })
				if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if code := run.wait(5 * time.Second); code != 128+int(syscall.SIGKILL) {
					t.Fatalf("wrapper exit %d after SIGKILL\nstderr: %s", code, run.errOut)
				}
				b, err := os.ReadFile(pidfile)
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil || pid <= 0 {
					t.Fatalf("no pid of the wrapped Hermes: %v", err)
				}
				t.Cleanup(func() {
					if alive(pid) {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				})
				waitFor(t, 10*time.Second, "the wrapped Hermes to stop after its wrapper died", func() bool { return !alive(pid) })
				if !fileHas(filepath.Join(h.prof, "auth.json"), "CANARY-work-codex") || len(h.sessions()) != 1 {
					t.Fatal("nothing to recover: the store is not materialised, or no crashed session is registered")
				}
				l := h.readLog()

				code, out, errOut := h.hk(next...)
				if code != 0 {
					t.Fatalf("%v after the crash: exit %d\n%s%s", next, code, out, errOut)
				}
				if next[0] == "status" && !strings.Contains(errOut, "ended without cleaning up") {
					t.Errorf("%v did not say it recovered a crashed run:\n%s", next, errOut)
				}
				noCanary(t, "output", out+errOut)
				h.checkScrubbed("after recovery")
				if code, _, errOut := h.hk("status"); code != 0 || strings.Contains(errOut, "ended without cleaning up") {
					t.Errorf("a second status: exit %d, recovered again: %s", code, errOut)
				}
				if after := h.readLog(); after.Rotations != l.Rotations {
					t.Fatalf("Hermes rotated after it was gone: %d -> %d", l.Rotations, after.Rotations)
				}
				for _, r := range l.Regressions {
					t.Errorf("an older pair replaced a newer one: %s", r)
				}
				h.checkVault(l)
			})
		}
	})
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// signalChild traps the signals run forwards, reports each to a file,
// and exits 40+N on a terminating one.
const signalChild = `import os, signal, sys, time
report, ready = sys.argv[1], sys.argv[2]
def on(n, f):
    with open(report, "a") as r:
        r.write(signal.Signals(n).name + "\n")
    if n != signal.SIGWINCH:
        os._exit(40 + n)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGWINCH):
    signal.signal(s, on)
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(ready + ".tmp", ready)
time.sleep(60)
sys.exit(1)
`

// TestRunSignalsAndExitCodes: the signals run receives reach CMD once;
// run exits with CMD's status, 128+N when CMD was killed, 127 when CMD is
// not found (and then nothing is materialised). No secret is ever on the
// wrapper's or CMD's command line, or in run's output.
func TestRunSignalsAndExitCodes(t *testing.T) {
	h := newE2ERoot(t, "file", nil)
	dir := t.TempDir()
	child := filepath.Join(dir, "child.py")
	writeFile(t, child, signalChild)

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		name := signalName(sig)
		t.Run(name, func(t *testing.T) {
			report, ready := filepath.Join(dir, "report-"+name), filepath.Join(dir, "ready-"+name)
			run := h.start("run", "-v", "--", h.py, child, report, ready)
			waitFor(t, 15*time.Second, "CMD to set its handlers", func() bool { return fileHas(ready, "") || run.exited() })
			b, _ := os.ReadFile(ready)
			pid, _ := strconv.Atoi(string(b))
			if !fileHas(filepath.Join(h.root, "auth.json"), "CANARY-nous") {
				t.Fatal("the store is not materialised while CMD runs")
			}
			for _, p := range []int{run.cmd.Process.Pid, pid} {
				cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				if err != nil || len(cl) == 0 {
					t.Fatalf("cmdline of %d: %v", p, err)
				}
				noCanary(t, fmt.Sprintf("/proc/%d/cmdline", p), string(cl))
			}
			run.cmd.Process.Signal(syscall.SIGWINCH)
			waitFor(t, 5*time.Second, "SIGWINCH to reach CMD", func() bool { return fileHas(report, "SIGWINCH") })
			run.cmd.Process.Signal(sig)
			if code := run.wait(15 * time.Second); code != 40+int(sig) {
				t.Errorf("run exited %d, want CMD's %d\nstderr: %s", code, 40+int(sig), run.errOut)
			}
			b, _ = os.ReadFile(report)
			if got, want := string(b), "SIGWINCH\n"+name+"\n"; got != want {
				t.Errorf("CMD got %q, want each signal once: %q", got, want)
			}
			noCanary(t, "run's stdout", run.out.String())
			noCanary(t, "run -v's stderr", run.errOut.String())
			h.checkScrubbed("after a signalled run")
		})
	}

	t.Run("exit-codes", func(t *testing.T) {
		for _, c := range []struct {
			script string
			want   int
		}{
			{"exit 0", 0},
			{"exit 7", 7},
			{"exit 255", 255},
			{"kill -TERM $$", 128 + 15},
			{"kill -KILL $$", 128 + 9},
			{"kill -HUP $$", 128 + 1},
		} {
			code, out, errOut := h.hk("run", "-v", "--", "sh", "-c", c.script)
			if code != c.want {
				t.Errorf("run -- sh -c %q: exit %d, want %d\n%s", c.script, code, c.want, errOut)
			}
			noCanary(t, "run's output", out+errOut)
		}
		h.checkScrubbed("after the exit codes")
	})

	t.Run("not-found", func(t *testing.T) {
		notExec := filepath.Join(dir, "not-executable")
		writeFile(t, notExec, "#!/bin/sh\nexit 0\n")
		for _, c := range []struct {
			cmd  string
			want int
		}{
			{"hermes-keys-no-such-command", 127},
			{filepath.Join(dir, "no-such-dir", "hermes"), 127},
			{notExec, 126},
			{dir, 126},
		} {
			code, out, errOut := h.hk("run", "-v", "--", c.cmd, "chat")
			if code != c.want {
				t.Errorf("run -- %s: exit %d, want %d\n%s", c.cmd, code, c.want, errOut)
			}
			if strings.Contains(errOut, "materialised") {
				t.Errorf("run -- %s materialised tokens for a command it could not start:\n%s", c.cmd, errOut)
			}
			noCanary(t, "run's output", out+errOut)
		}
		h.checkScrubbed("after commands that were not found")
	})
}

// signalName is Python's name of sig ("SIGTERM").
func signalName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP"}[sig]
}

// TestRunEnvUnderRun (issue 11 items 1-3): under run the sealed .env keys
// are back in the home's own .env, where Hermes loads them: a profile gets
// exactly its own, never the root's (in run, env and get). A key Hermes
// sets or adds in .env during a run (config set, hermes model) is sealed
// while the run lives and gone from .env when it exits; a key Hermes
// removes (auth remove) leaves the vault. Non-secret lines stay as they
// were. The stand-in writes .env exactly as save_env_value and
// remove_env_value do.
func TestRunEnvUnderRun(t *testing.T) {
	const rootEnv = "# keys\nOPENROUTER_API_KEY=sk-or-CANARY-env-root\nTAVILY_API_KEY=tvly-CANARY-env-tavily\nTELEGRAM_BOT_TOKEN=CANARY-env-telegram\nHERMES_MAX_TURNS=40\n"
	h := newE2ERoot(t, "file", map[string]string{
		".env":                rootEnv,
		"profiles/work/.env":  "OPENROUTER_API_KEY=sk-or-CANARY-env-work\nHERMES_MAX_TURNS=5\n",
		"profiles/other/.env": "TAVILY_API_KEY=tvly-CANARY-env-other\n",
	}, "--env")
	rootSkel, _ := os.ReadFile(filepath.Join(h.root, ".env"))
	if !strings.HasSuffix(string(rootSkel), "\n# keys\nHERMES_MAX_TURNS=40\n") || !strings.HasPrefix(string(rootSkel), "# hermes-keys: ") {
		t.Errorf("root .env after migrate --env:\n%s", rootSkel)
	}
	dump := filepath.Join(t.TempDir(), "env.json")
	hermesSees := func(args ...string) map[string]string {
		t.Helper()
		argv := append(append([]string{"run"}, args...), "--", h.py, hermestest.Script(), "env-dump", "--out", dump)
		// An inherited value must not matter: Hermes's .env wins over it.
		p := h.startEnv([]string{"TELEGRAM_BOT_TOKEN=inherited"}, argv...)
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("%v: exit %d\n%s", argv, code, p.errOut)
		}
		noCanary(t, "run's output", p.out.String()+p.errOut.String())
		var got map[string]string
		b, _ := os.ReadFile(dump)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		os.Remove(dump)
		return got
	}
	got := hermesSees()
	for k, w := range map[string]string{"OPENROUTER_API_KEY": "sk-or-CANARY-env-root", "TAVILY_API_KEY": "tvly-CANARY-env-tavily",
		"TELEGRAM_BOT_TOKEN": "CANARY-env-telegram", "HERMES_MAX_TURNS": "40"} {
		if got[k] != w {
			t.Errorf("run: Hermes's .env gives %s = %q, want %q", k, got[k], w)
		}
	}
	got = hermesSees("-p", "work")
	if got["OPENROUTER_API_KEY"] != "sk-or-CANARY-env-work" || got["HERMES_MAX_TURNS"] != "5" {
		t.Errorf("run -p work: Hermes's .env gives %q", got)
	}
	for _, k := range []string{"TAVILY_API_KEY", "TELEGRAM_BOT_TOKEN"} {
		if _, ok := got[k]; ok {
			t.Errorf("run -p work: the profile's .env has the root's %s", k)
		}
	}
	// A profile's run leaves the root's .env scrubbed: Hermes does not load it.
	if code, out, errOut := h.hk("run", "-p", "work", "--", "sh", "-c", `! grep -q CANARY "$ROOT/.env" && grep -q CANARY "$ROOT/profiles/work/.env"`); code != 0 {
		t.Errorf("run -p work materialised the root's .env, or not the profile's: exit %d\n%s%s", code, out, errOut)
	}
	h.checkScrubbed("after runs that read .env")
	if b, _ := os.ReadFile(filepath.Join(h.root, ".env")); !bytes.Equal(b, rootSkel) {
		t.Errorf("root .env after the runs:\n%q\nwant\n%q", b, rootSkel)
	}
	// env and get: the profile's own keys only.
	if code, out, _ := h.hk("-p", "work", "env"); code != 0 || strings.TrimSpace(out) != "OPENROUTER_API_KEY=sk-or-CANARY-env-work" {
		t.Errorf("env -p work: exit %d, printed %d line(s); want only the profile's own key", code, strings.Count(out, "\n"))
	}
	if code, _, _ := h.hk("-p", "work", "get", "env:TELEGRAM_BOT_TOKEN"); code != 3 {
		t.Errorf("get -p work env:TELEGRAM_BOT_TOKEN: exit %d, want 3 (Hermes loads no root .env for a profile)", code)
	}

	// Hermes's config set and a new key (hermes model), then auth remove.
	code, out, errOut := h.hk("run", "-v", "--", "sh", "-c",
		`"$PY" "$FH" env-set --key OPENROUTER_API_KEY --value sk-or-CANARY-env-NEW && "$PY" "$FH" env-set --key ELEVENLABS_API_KEY --value CANARY-env-eleven && "$PY" "$FH" env-remove --key TAVILY_API_KEY`)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	noCanary(t, "run's output", out+errOut)
	if !strings.Contains(errOut, "removed env/TAVILY_API_KEY from the vault") {
		t.Errorf("run -v did not say it removed env/TAVILY_API_KEY:\n%s", errOut)
	}
	h.checkScrubbed("after Hermes changed .env")
	if got := h.get("env:OPENROUTER_API_KEY"); got != "sk-or-CANARY-env-NEW" {
		t.Errorf("get env:OPENROUTER_API_KEY after config set under run: %q", got)
	}
	if got := h.get("env:ELEVENLABS_API_KEY"); got != "CANARY-env-eleven" {
		t.Errorf("get env:ELEVENLABS_API_KEY after Hermes added it under run: %q", got)
	}
	if code, _, _ := h.hk("get", "env:TAVILY_API_KEY"); code != 3 {
		t.Errorf("get env:TAVILY_API_KEY after auth remove under run: exit %d, want 3", code)
	}
	if b, _ := os.ReadFile(filepath.Join(h.root, ".env")); !bytes.Equal(b, rootSkel) {
		t.Errorf("root .env after Hermes's changes:\n%q\nwant the same skeleton\n%q", b, rootSkel)
	}
	got = hermesSees()
	if _, ok := got["TAVILY_API_KEY"]; ok || got["OPENROUTER_API_KEY"] != "sk-or-CANARY-env-NEW" {
		t.Errorf("the next run: Hermes's .env gives %q", got)
	}
	if code, out, errOut := h.hk("unmigrate", "--all-profiles", "--yes"); code != 0 {
		t.Fatalf("unmigrate: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(h.root, ".env"))
	if strings.Contains(string(b), "TAVILY_API_KEY") || !strings.Contains(string(b), "ELEVENLABS_API_KEY=CANARY-env-eleven") || strings.Contains(string(b), "hermes-keys:") {
		t.Errorf("root .env after unmigrate:\n%s", b)
	}
}

// TestRunSealsEnvPromptly: with the periodic re-check off, a key Hermes
// saves into .env while the run lives is in the vault within moments (the
// target is 250 ms, as for a token rotation; 2 s is allowed here).
func TestRunSealsEnvPromptly(t *testing.T) {
	h := newE2ERoot(t, "file", map[string]string{".env": "OPENROUTER_API_KEY=sk-or-CANARY-env-root\n"}, "--env")
	stop := filepath.Join(t.TempDir(), "stop")
	run := h.start("run", "--recheck", "1h", "--", "sh", "-c", `while [ ! -e "$1" ]; do sleep 0.02; done`, "sh", stop)
	waitFor(t, 15*time.Second, "the run to start", func() bool { return len(h.sessions()) == 1 || run.exited() })
	var delays []time.Duration
	for i := 1; i <= 4; i++ {
		want := fmt.Sprintf("sk-or-CANARY-env-%04d", i)
		c := exec.Command(h.py, hermestest.Script(), "env-set", "--home", h.root, "--key", "OPENROUTER_API_KEY", "--value", want)
		c.Env = h.env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("env-set: %v: %s", err, out)
		}
		t0 := time.Now()
		waitFor(t, 2*time.Second, "key "+strconv.Itoa(i)+" to be sealed", func() bool {
			code, out, _ := h.hk("get", "env:OPENROUTER_API_KEY")
			return code == 0 && strings.TrimSpace(out) == want
		})
		delays = append(delays, time.Since(t0))
	}
	writeFile(t, stop, "")
	if code := run.wait(15 * time.Second); code != 0 {
		t.Fatalf("run exited %d\n%s", code, run.errOut)
	}
	h.checkScrubbed("after the run")
	t.Logf(".env change to vault, as seen by polling get: %v", delays)
}

// TestRunCarriesHermesRemovals: a Hermes logout during a run (the nous
// block and the shared store removed under Hermes's locks) is carried to
// the vault, and the next run does not bring the login back. A store that
// Hermes reset to empty (it found it corrupt) is not a logout: the vault
// keeps every block.
func TestRunCarriesHermesRemovals(t *testing.T) {
	t.Run("logout", func(t *testing.T) {
		h := newE2ERoot(t, "file", nil)
		code, out, errOut := h.hk("run", "-v", "--", "sh", "-c", `"$PY" "$FH" rotate-once --log "$LOG" && "$PY" "$FH" logout --provider nous`)
		if code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "removed providers/nous from the vault") {
			t.Errorf("run -v did not say it removed the nous login:\n%s", errOut)
		}
		h.checkScrubbed("after the logout")
		for _, ref := range []string{"nous", "nous.refresh_token"} {
			if code, _, _ := h.hk("get", ref); code != 3 {
				t.Errorf("get %s after the logout: exit %d, want 3 (not found)", ref, code)
			}
		}
		var st struct {
			Records []struct {
				Key string `json:"key"`
			} `json:"records"`
		}
		_, out, _ = h.hk("status", "--json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		var keys []string
		for _, r := range st.Records {
			keys = append(keys, r.Key)
		}
		if want := "profiles/work/providers/openai-codex providers/openai-codex"; strings.Join(keys, " ") != want {
			t.Errorf("vault records after the logout: %v, want %s", keys, want)
		}
		if got := h.get("openai-codex.tokens.refresh_token"); got != "CANARY-codex-refresh-0001" {
			t.Errorf("codex pair after the logout: %s, want the rotated one", got)
		}
		// The next run: Codex is back, Nous is not.
		code, out, errOut = h.hk("run", "--", "sh", "-c",
			`grep -q CANARY-codex-refresh-0001 "$HERMES_HOME/auth.json" && ! grep -q CANARY-nous "$HERMES_HOME/auth.json" && test ! -e "$HERMES_HOME/shared/nous_auth.json"`)
		if code != 0 {
			t.Errorf("the next run brought the nous login back, or lost codex: exit %d\n%s%s", code, out, errOut)
		}
		h.checkScrubbed("after the next run")
	})

	t.Run("reset-is-not-logout", func(t *testing.T) {
		h := newE2ERoot(t, "file", nil)
		const reset = `import fcntl, json, os, sys
fd = os.open(os.path.join(sys.argv[1], "auth.lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
tmp = os.path.join(sys.argv[1], ".auth_reset.tmp")
with open(tmp, "w") as f:
    json.dump({"version": 1, "providers": {}}, f)
os.replace(tmp, os.path.join(sys.argv[1], "auth.json"))`
		code, out, errOut := h.hk("run", "-v", "--", h.py, "-c", reset, h.root)
		if code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
		}
		if strings.Contains(errOut, "removed") {
			t.Errorf("run removed records from the vault after a reset store:\n%s", errOut)
		}
		h.scan("after the reset")
		for _, ref := range []string{"nous.refresh_token", "openai-codex.tokens.refresh_token"} {
			if code, _, _ := h.hk("get", ref); code != 0 {
				t.Errorf("get %s after a reset store: exit %d; the vault lost it", ref, code)
			}
		}
	})
}
