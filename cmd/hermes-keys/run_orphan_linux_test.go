package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunOrphanKeepsSession: when the wrapper is killed but the wrapped
// Hermes lives on (it ignores the parent-death SIGTERM; on macOS there is
// none), the session stays live through the lock CMD inherited, so status
// does not scrub the store under it. Once CMD is gone, status recovers.
func TestRunOrphanKeepsSession(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "h")
	os.MkdirAll(home, 0o700)
	const canary = "CANARY-orphan-refresh-33e1"
	os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"version": 1, "providers": {"nous": {"refresh_token": "`+canary+`"}}}`), 0o600)
	env := append(os.Environ(), "HERMES_HOME="+home, "HERMES_KEYS_PASSPHRASE=orphan-pass", "HERMES_KEYS_TEST_SCRYPT=10",
		"HERMES_KEYS_BACKEND=", "HERMES_KEYS_SOCKET="+filepath.Join(dir, "no.sock"))
	hk := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := hk("migrate", "--backend", "file", "--yes"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	pidfile := filepath.Join(dir, "pid")
	wrapper := exec.Command(bin, "run", "--", "sh", "-c", `trap "" TERM; echo $$ > "$0"; exec sleep 60`, pidfile)
	wrapper.Env = env
	if err := wrapper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for i := 0; i < 200 && pid == 0; i++ {
		b, _ := os.ReadFile(pidfile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(25 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the wrapped command did not start")
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	wrapper.Process.Signal(syscall.SIGKILL)
	wrapper.Wait()
	time.Sleep(100 * time.Millisecond) // the parent-death SIGTERM, ignored
	if syscall.Kill(pid, 0) != nil {
		t.Fatal("the wrapped command died; the test needs it alive")
	}

	code, out, errOut := hk("status")
	if code != 0 || strings.Contains(errOut, "ended without cleaning up") || !strings.Contains(out, "1 live") {
		t.Fatalf("status while the orphaned CMD lives: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "auth.json")); !bytes.Contains(b, []byte(canary)) {
		t.Fatal("the store was scrubbed under a running CMD")
	}

	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(25 * time.Millisecond) // reaped by init (or the test's subreaper)
	}
	code, _, errOut = hk("status")
	if code != 0 || !strings.Contains(errOut, "ended without cleaning up") {
		t.Fatalf("status after CMD ended: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "auth.json")); bytes.Contains(b, []byte(canary)) {
		t.Fatal("status did not scrub after the crashed run's CMD ended")
	}
}

// TestPutRefusedWhileRunLive: `put` of a provider block while a run is live
// would be overwritten by the run's next seal of Hermes's file, so it is
// refused (exit 1, nothing written); so is an env record (materialised into .env).
func TestPutRefusedWhileRunLive(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "h")
	os.MkdirAll(home, 0o700)
	os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"version": 1, "providers": {"nous": {"refresh_token": "CANARY-put-rt"}}}`), 0o600)
	env := append(os.Environ(), "HERMES_HOME="+home, "HERMES_KEYS_PASSPHRASE=put-pass", "HERMES_KEYS_TEST_SCRYPT=10",
		"HERMES_KEYS_BACKEND=", "HERMES_KEYS_SOCKET="+filepath.Join(dir, "no.sock"))
	hk := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := hk("", "migrate", "--backend", "file", "--yes"); code != 0 {
		t.Fatalf("migrate: %d %s", code, out)
	}
	run := exec.Command(bin, "run", "--", "sleep", "30")
	run.Env = env
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	for i := 0; i < 200; i++ {
		if m, _ := filepath.Glob(filepath.Join(home, "hermes-keys", "sessions", "*.session")); len(m) > 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	_, before := hk("", "status", "--json")
	code, out := hk(`{"refresh_token": "CANARY-put-new"}`, "put", "nous")
	if code != 1 || !strings.Contains(out, "is live") || !strings.Contains(out, "nothing was written") || !strings.Contains(out, "hint:") {
		t.Fatalf("put of a block during a run: exit %d\n%s", code, out)
	}
	// An env record too: run materialises it into .env, whose next seal
	// would overwrite the put.
	if code, out := hk("sk-live-env-1234", "put", "env:LIVE_KEY"); code != 1 || !strings.Contains(out, "nothing was written") {
		t.Fatalf("put of an env record during a run: exit %d\n%s", code, out)
	}
	run.Process.Signal(syscall.SIGTERM)
	run.Wait()
	_, after := hk("", "get", "nous.refresh_token")
	if !strings.Contains(after, "CANARY-put-rt") || strings.Contains(before, "CANARY") {
		t.Fatalf("the refused put changed the vault: %s", after)
	}
	if code, out := hk(`{"refresh_token": "CANARY-put-new"}`, "put", "nous"); code != 0 {
		t.Fatalf("put after the run: exit %d\n%s", code, out)
	}
	if _, got := hk("", "get", "nous.refresh_token"); !strings.Contains(got, "CANARY-put-new") {
		t.Fatalf("put after the run did not land: %s", got)
	}
}

// logoutThenKill is Hermes logging out of Nous (under auth.lock, temp file
// and rename; the shared store goes too) and, before run's watcher can
// seal that, the wrapper dying (SIGKILL to its parent).
const logoutThenKill = `
import fcntl, json, os, signal, sys, tempfile
home = sys.argv[1]
fd = os.open(os.path.join(home, "auth.lock"), os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
p = os.path.join(home, "auth.json")
d = json.load(open(p))
del d["providers"]["nous"]
t, tmp = tempfile.mkstemp(dir=home, prefix=".auth_", suffix=".tmp")
with os.fdopen(t, "w") as f:
    json.dump(d, f, indent=2); f.flush(); os.fsync(f.fileno())
os.replace(tmp, p)
os.remove(os.path.join(home, "shared", "nous_auth.json"))
os.close(fd)
os.kill(os.getppid(), signal.SIGKILL)
`

// TestRunCrashAfterLogout: a logout Hermes made after run's last sync, with
// run killed before it could seal it, still reaches the vault: the session
// file holds the baseline of that last sync and the recovering command
// (status) uses it. The next run does not bring the Nous login back.
func TestRunCrashAfterLogout(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Hermes stand-in (scripts/test checks for it): %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "h")
	os.MkdirAll(filepath.Join(home, "shared"), 0o700)
	os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"version": 1, "providers": {"nous": {"refresh_token": "CANARY-nous-rt"}, "openai-codex": {"tokens": {"refresh_token": "CANARY-codex-rt"}}}}`), 0o600)
	os.WriteFile(filepath.Join(home, "shared", "nous_auth.json"), []byte(`{"refresh_token": "CANARY-nous-rt"}`), 0o600)
	env := append(os.Environ(), "HERMES_HOME="+home, "HERMES_KEYS_PASSPHRASE=logout-pass", "HERMES_KEYS_TEST_SCRYPT=10",
		"HERMES_KEYS_BACKEND=", "HERMES_KEYS_SOCKET="+filepath.Join(dir, "no.sock"))
	hk := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := hk("migrate", "--backend", "file", "--yes"); code != 0 {
		t.Fatalf("migrate: %d %s", code, out)
	}
	wrapper := exec.Command(bin, "run", "--", py, "-c", logoutThenKill, home)
	wrapper.Env = env
	out0, err := wrapper.CombinedOutput()
	if ws, ok := wrapper.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("run: %v, want the wrapper killed\n%s", err, out0)
	}
	code, out := hk("status", "--json")
	if code != 0 || !strings.Contains(out, `"crashed_runs": 1`) {
		t.Fatalf("status after the crash: exit %d\n%s", code, out)
	}
	if strings.Contains(out, `"key": "providers/nous"`) || strings.Contains(out, `"key": "file/shared/nous_auth.json"`) {
		t.Errorf("the logged-out Nous login is still in the vault:\n%s", out)
	}
	if !strings.Contains(out, `"key": "providers/openai-codex"`) {
		t.Errorf("the Codex login was lost:\n%s", out)
	}
	if code, out := hk("run", "--", "sh", "-c", `if grep -q nous "$HERMES_HOME/auth.json" || test -e "$HERMES_HOME/shared/nous_auth.json"; then echo BACK; fi; grep -c CANARY-codex "$HERMES_HOME/auth.json"`); code != 0 || strings.Contains(out, "BACK") || !strings.HasPrefix(out, "1") {
		t.Errorf("the next run brought the Nous login back: exit %d\n%s", code, out)
	}
}
