//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ptyDriver runs `hermes-keys run -- python3 -c CHILD` on a new pseudo
// terminal (as its controlling terminal, in the foreground), types ^C, then
// ^Z, checks that run stopped with its CMD (job control), continues it as
// a shell's fg would, and prints the terminal output and run's exit code.
const ptyDriver = `import os, pty, sys, time, select, signal
hk, py, child = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(hk, [hk, "run", "--", py, "-c", child])
buf = b""
def read_until(token, timeout=10):
    global buf
    end = time.time() + timeout
    while token not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            raise SystemExit("timeout waiting for %r; got %r" % (token, buf))
        try:
            buf += os.read(fd, 4096)
        except OSError:
            raise SystemExit("eof waiting for %r; got %r" % (token, buf))
def state(p):
    return open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0]
read_until(b"ready")
print("wrapper-pgid=%d" % os.getpgid(pid))
os.write(fd, b"\x03")          # ^C from the terminal
read_until(b"got-int")
os.write(fd, b"\x1a")          # ^Z
end = time.time() + 5
while state(pid) != "T":
    if time.time() > end:
        raise SystemExit("wrapper did not stop after ^Z (state %s)" % state(pid))
    time.sleep(0.02)
print("wrapper-stopped")
os.kill(pid, signal.SIGCONT)   # what the shell's fg does
read_until(b"done")
_, ws = os.waitpid(pid, 0)
print(buf.decode(errors="replace").replace("\r", ""))
print("exit", os.waitstatus_to_exitcode(ws))
`

// ptyChild counts SIGINTs and reports its process group and the terminal's
// foreground group.
const ptyChild = `import os, signal, sys, time
n = [0]
def h(*a):
    n[0] += 1
    print("got-int", flush=True)
signal.signal(signal.SIGINT, h)
print("ready pgid=%d tpgid=%d" % (os.getpgrp(), os.tcgetpgrp(0)), flush=True)
deadline = time.time() + 3
while time.time() < deadline:
    time.sleep(0.05)
print("sigint=%d" % n[0], flush=True)
print("done", flush=True)
`

// TestRunOnTerminal: on a terminal, CMD runs in its own process group that
// owns the terminal's foreground, so ^C reaches it exactly once (not once
// from the terminal and again forwarded by run); ^Z stops the job (run
// stops itself when CMD stops) and continuing run continues CMD.
func TestRunOnTerminal(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Hermes stand-in (scripts/test checks for it): %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "h")
	os.MkdirAll(home, 0o700)
	os.WriteFile(filepath.Join(home, "auth.json"), []byte(`{"version": 1, "providers": {"nous": {"refresh_token": "CANARY-tty-rt"}}}`), 0o600)
	env := append(os.Environ(), "HERMES_HOME="+home, "HERMES_KEYS_PASSPHRASE=tty-pass", "HERMES_KEYS_TEST_SCRYPT=10",
		"HERMES_KEYS_BACKEND=", "HERMES_KEYS_SOCKET="+filepath.Join(dir, "no.sock"))
	mig := exec.Command(bin, "migrate", "--backend", "file", "--yes")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	drv := exec.Command(py, "-c", ptyDriver, bin, py, ptyChild)
	drv.Env = env
	out, err := drv.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	s := string(out)
	m := regexp.MustCompile(`ready pgid=(\d+) tpgid=(\d+)`).FindStringSubmatch(s)
	w := regexp.MustCompile(`wrapper-pgid=(\d+)`).FindStringSubmatch(s)
	if m == nil || w == nil {
		t.Fatal("no process groups reported")
	}
	if m[1] != m[2] {
		t.Errorf("CMD (group %s) does not own the terminal's foreground (group %s)", m[1], m[2])
	}
	if m[1] == w[1] {
		t.Errorf("CMD runs in run's own process group %s", w[1])
	}
	for _, want := range []string{"sigint=1\n", "wrapper-stopped", "exit 0"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(home, "auth.json")); strings.Contains(string(b), "CANARY") {
		t.Error("run did not scrub after CMD ended")
	}
}
