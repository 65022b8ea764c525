package lockfile

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestExclusiveAndTimeout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth.lock")
	l1, err := Acquire(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireTimeout(context.Background(), p, 120*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second lock: %v, want ErrTimeout", err)
	}
	l1.Unlock()
	l2, err := AcquireTimeout(context.Background(), p, time.Second)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

// TestInteropWithPythonFlock: a lock held by Python's fcntl.flock (what
// Hermes uses) blocks us, and ours blocks it.
func TestInteropWithPythonFlock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fcntl.flock is POSIX")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	p := filepath.Join(t.TempDir(), "auth.lock")
	cmd := exec.Command(py, "-c", `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
`, p)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf), "locked") {
		t.Fatalf("python did not lock: %v %q", err, buf)
	}
	if _, err := AcquireTimeout(context.Background(), p, 150*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("while python holds it: %v, want ErrTimeout", err)
	}
	stdin.Close()
	cmd.Wait()
	l, err := AcquireTimeout(context.Background(), p, time.Second)
	if err != nil {
		t.Fatalf("after python released: %v", err)
	}
	// Now python must not get it.
	res, _ := exec.Command(py, "-c", `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print("got")
except BlockingIOError:
    print("blocked")
`, p).Output()
	l.Unlock()
	if strings.TrimSpace(string(res)) != "blocked" {
		t.Fatalf("python while we hold the lock: %q", res)
	}
}
