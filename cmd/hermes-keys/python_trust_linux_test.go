package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countingListener listens at path (as this process's uid) and counts the
// bytes clients send; answer, when set, replies to every line.
func countingListener(t *testing.T, path string, answer func(line []byte) []byte) func() int64 {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if answer == nil {
					k, _ := io.Copy(io.Discard, c)
					n.Add(k)
					return
				}
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					n.Add(int64(len(line)))
					if err != nil {
						return
					}
					c.Write(answer(line))
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return n.Load
}

const pyTrustScript = `
import sys
sys.path.insert(0, sys.argv[1])
import hermes_keys as hk
try:
    c = hk.Client(sys.argv[2], timeout=2)
except hk.Untrusted as e:
    print("untrusted: %s" % e)
    sys.exit(0)
if sys.argv[3] == "env":
    print("env: %s" % sorted(c.env().items()))
else:
    c.ping()
    print("trusted")
`

func pythonOrSkip(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is missing in CI")
		}
		t.Skip("SKIPPED: python3 is not installed")
	}
	return py
}

// TestPythonClientChecksTheSocket: contrib/python's client refuses a
// socket in a directory others can write, sends it nothing, and leaves out
// env entries a daemon (or a squatter) sends with a bad name or value.
func TestPythonClientChecksTheSocket(t *testing.T) {
	py := pythonOrSkip(t)
	contrib, _ := filepath.Abs(filepath.Join("..", "..", "contrib", "python"))

	open := sockDir(t)
	os.Chmod(open, 0o1777)
	t.Cleanup(func() { os.Chmod(open, 0o700) })
	got := countingListener(t, filepath.Join(open, "broker.sock"), nil)
	out, err := exec.Command(py, "-c", pyTrustScript, contrib, filepath.Join(open, "broker.sock"), "ping").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "untrusted: refusing the broker daemon socket") || !strings.Contains(string(out), "writable by others") {
		t.Fatalf("socket in a 1777 directory: %v\n%s", err, out)
	}
	if n := got(); n != 0 {
		t.Fatalf("the listener received %d bytes", n)
	}

	// A same-user daemon that sends crafted env entries.
	fake := filepath.Join(sockDir(t), "broker.sock")
	countingListener(t, fake, func(line []byte) []byte {
		var req struct {
			ID int64 `json:"id"`
		}
		json.Unmarshal(line, &req)
		b, _ := json.Marshal(map[string]any{"v": 1, "id": req.ID, "ok": true, "env": map[string]string{
			"GOOD": "CANARY-good", "X\nHTTPS_PROXY": "http://CANARY-evil", "ML": "CANARY-a\nHTTPS_PROXY=http://evil", "1BAD": "CANARY-d",
		}})
		return append(b, '\n')
	})
	cmd := exec.Command(py, "-c", pyTrustScript, contrib, fake, "env")
	cmd.Env = envList(nil)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "env: [('GOOD', 'CANARY-good')]\n" {
		t.Fatalf("crafted env: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "CANARY") || !strings.Contains(stderr.String(), "env:ML spans lines") || !strings.Contains(stderr.String(), "not a valid variable name") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

// TestPythonClientRefusesAnotherUsersListener runs the Python client as
// uid 65534 against a socket root listens on in a directory of 65534's: only
// the peer-credential check can refuse it, and the listener gets nothing.
func TestPythonClientRefusesAnotherUsersListener(t *testing.T) {
	py := pythonOrSkip(t)
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test as root (setpriv to another uid)")
		}
		t.Skip("SKIPPED (not root): running the client as another uid needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is missing")
	}
	dir := sockDir(t)
	// uid 65534 runs the system's python3 (a pyenv shim under root's home
	// is closed to it).
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "contrib", "python", "hermes_keys.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hermes_keys.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "broker.sock")
	got := countingListener(t, sock, func([]byte) []byte { return []byte(`{"v":1,"id":1,"ok":true}` + "\n") })
	os.Chmod(sock, 0o666)
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "hermes_keys.py")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py, "-c", pyTrustScript, dir, sock, "ping")
	cmd.Env, cmd.Dir = []string{"PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}, "/"
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "untrusted: refusing the broker daemon socket") || !strings.Contains(string(out), "runs as uid 0, not as this user (uid 65534)") {
		t.Fatalf("python client as uid 65534 at root's listener: %v\n%s", err, out)
	}
	if n := got(); n != 0 {
		t.Fatalf("the listener received %d bytes", n)
	}
}
