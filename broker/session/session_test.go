package session

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestJoinLeaveFirstAndLast(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	ctx := context.Background()
	var calls []string
	rec := func(name string) func(bool) error {
		return func(alone bool) error {
			calls = append(calls, map[bool]string{true: name + ":alone", false: name + ":shared"}[alone])
			return nil
		}
	}
	a, err := r.Join(ctx, rec("join-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Join(ctx, rec("join-b"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Live(ctx); n != 2 {
		t.Fatalf("live %d, want 2", n)
	}
	if ran, _ := r.Recover(ctx, func() error { return nil }); ran {
		t.Fatal("recover ran while sessions are live")
	}
	r.Leave(ctx, a, rec("leave-a"))
	r.Leave(ctx, b, rec("leave-b"))
	want := []string{"join-a:alone", "join-b:shared", "leave-a:shared", "leave-b:alone"}
	for i := range want {
		if i >= len(calls) || calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", calls, want)
		}
	}
}

// TestCrashedHolderIsStale: a session whose process died (its flock gone)
// does not count as live, and Recover then runs.
func TestCrashedHolderIsStale(t *testing.T) {
	dir := t.TempDir()
	r := &Registry{Dir: dir}
	// A session file left by a dead process: it exists but nobody holds it.
	os.WriteFile(filepath.Join(dir, "999999-dead"+suffix), nil, 0o600)
	// And one held by a live child process.
	held := filepath.Join(dir, "1-live"+suffix)
	cmd := exec.Command("python3", "-c", `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("ok", flush=True)
sys.stdin.read()`, held)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skip("python3 unavailable:", err)
	}
	buf := make([]byte, 2)
	out.Read(buf)
	ctx := context.Background()
	if n, _ := r.Live(ctx); n != 1 {
		t.Fatalf("live %d, want 1 (the held one)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "999999-dead"+suffix)); !os.IsNotExist(err) {
		t.Fatal("stale session file not removed")
	}
	cmd.Process.Kill() // the wrapper dies without leaving
	cmd.Wait()
	in.Close()
	ran, err := r.Recover(ctx, func() error { return nil })
	if err != nil || !ran {
		t.Fatalf("recover after crash: ran=%v err=%v", ran, err)
	}
}
