//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promptDriver runs hermes-keys (argv[4:]) on a new pseudo-terminal with no
// passphrase source but the terminal, waits for the passphrase prompt, then
// does argv[1]: "type" (the passphrase argv[2], then reads to the end),
// "int" (^C typed at the terminal) or "term" (SIGTERM). It prints whether
// the terminal echoes after hermes-keys is gone, its exit code and output.
const promptDriver = `import os, pty, sys, time, select, signal, termios
mode, passphrase, hk = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(hk, [hk] + sys.argv[4:])
buf = b""
def read_until(token, timeout=60):
    global buf
    end = time.time() + timeout
    while token not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            raise SystemExit("timeout waiting for %r; got %r" % (token, buf))
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            raise SystemExit("eof waiting for %r; got %r" % (token, buf))
        if not chunk:
            raise SystemExit("eof waiting for %r; got %r" % (token, buf))
        buf += chunk
read_until(b"passphrase for hermes-keys: ")
# the prompt is written just before echo goes off: wait until it is off
end = time.time() + 10
while termios.tcgetattr(fd)[3] & termios.ECHO:
    if time.time() > end:
        raise SystemExit("echo never went off at the prompt")
    time.sleep(0.01)
if mode == "type":
    os.write(fd, passphrase.encode() + b"\n")
elif mode == "int":
    os.write(fd, b"\x03")
else:
    os.kill(pid, signal.SIGTERM)
end = time.time() + 30
while True:
    done, ws = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > end:
        print("echo=%s" % bool(termios.tcgetattr(fd)[3] & termios.ECHO))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("hung: hermes-keys did not exit within 30s")
        sys.exit(0)
    time.sleep(0.02)
try:
    while True:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
except OSError:
    pass
print("echo=%s" % bool(termios.tcgetattr(fd)[3] & termios.ECHO))
print("exit=%d" % os.waitstatus_to_exitcode(ws))
print(buf.decode(errors="replace").replace("\r", ""))
`

// Issue 10 item 12 and issue 11 item 8: the passphrase prompt runs under no
// keychain deadline (here 1ns, so any deadline around the prompt or the
// scrypt that follows fails the read), and the terminal gets its echo back
// however the prompt ends: answered, ^C, SIGTERM.
func TestPassphrasePromptOnTerminal(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the pseudo-terminal driver (scripts/test checks for it): %v", err)
	}
	bin := buildBinary(t)
	const pass = "prompt-pass-4e1d"
	root := copyTree(t, filepath.Join("..", "..", "broker", "hermes", "testdata", "home"))
	base := []string{"HERMES_HOME=" + root, "HOME=" + filepath.Dir(root), "HERMES_KEYS_BACKEND=file",
		"HERMES_KEYS_TEST_SCRYPT=10", "PATH=/usr/bin:/bin", "DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + t.TempDir()}
	mig := exec.Command(bin, "migrate", "--env", "--yes")
	mig.Env = append(base, "HERMES_KEYS_PASSPHRASE="+pass)
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join("..", "..", "broker", "hermes", "testdata", "home", ".env"))
	var key string
	for _, line := range strings.Split(string(want), "\n") {
		if v, ok := strings.CutPrefix(line, "OPENROUTER_API_KEY="); ok {
			key = strings.Trim(v, `"'`)
		}
	}
	if key == "" {
		t.Fatal("corpus .env has no OPENROUTER_API_KEY")
	}
	drive := func(t *testing.T, mode string) string {
		cmd := exec.Command(py, "-c", promptDriver, mode, pass, bin, "--timeout", "1ns", "get", "env:OPENROUTER_API_KEY")
		cmd.Env = base
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("driver: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Run("answered", func(t *testing.T) {
		out := drive(t, "type")
		if !strings.Contains(out, "echo=True") || !strings.Contains(out, "exit=0") || !strings.Contains(out, key) {
			t.Fatalf("get with a typed passphrase under a 1ns keychain deadline:\n%s", out)
		}
		if strings.Contains(out, "did not answer in time") {
			t.Fatalf("a local prompt was reported as a keychain timeout:\n%s", out)
		}
		if strings.Contains(out, pass) {
			t.Fatalf("the passphrase was echoed:\n%s", out)
		}
	})
	for mode, code := range map[string]string{"int": "exit=130", "term": "exit=143"} {
		t.Run(mode, func(t *testing.T) {
			out := drive(t, mode)
			if !strings.Contains(out, "echo=True") {
				t.Fatalf("terminal left without echo after %s at the prompt:\n%s", mode, out)
			}
			if !strings.Contains(out, code) || strings.Contains(out, key) {
				t.Fatalf("after %s at the prompt, want %s and no secret:\n%s", mode, code, out)
			}
		})
	}
}
