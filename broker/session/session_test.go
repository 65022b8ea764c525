package session

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
	r.Do(ctx, func(live, stale int) error {
		if live != 2 || stale != 0 {
			t.Fatalf("live %d stale %d, want 2 and 0", live, stale)
		}
		return nil
	})
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
// does not count as live, and is handed to the next caller as stale, once.
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
		t.Fatal("python3 is needed for the lock holder:", err)
	}
	buf := make([]byte, 2)
	out.Read(buf)
	ctx := context.Background()
	r.Do(ctx, func(live, stale int) error {
		if live != 1 || stale != 1 {
			t.Fatalf("live %d stale %d, want 1 (the held one) and 1", live, stale)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, "999999-dead"+suffix)); !os.IsNotExist(err) {
		t.Fatal("stale session file not removed")
	}
	cmd.Process.Kill() // the wrapper dies without leaving
	cmd.Wait()
	in.Close()
	err := r.Do(ctx, func(live, stale int) error {
		if live != 0 || stale != 1 {
			t.Fatalf("after the holder died: live %d stale %d, want 0 and 1", live, stale)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecordedBaseline: a session's recorded keys reach the next caller
// once its wrapper is gone, exactly once; Record(nil) clears them; and a
// caller that only checks (HoldNoRun) leaves a crashed session for a
// recovering command and refuses meanwhile.
func TestRecordedBaseline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := &Registry{Dir: filepath.Join(dir, "sessions")}
	s, err := r.Join(ctx, func(bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(map[string]bool{"providers/nous": true, "file/shared/nous_auth.json": true}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.path)
	if string(b) != `["file/shared/nous_auth.json","providers/nous"]` {
		t.Fatalf("session file holds %q", b)
	}
	// The wrapper dies: its lock goes, its file stays.
	s.lk.Unlock()
	if _, err := HoldNoRun(ctx, dir, time.Second); !errors.Is(err, ErrLive) {
		t.Fatalf("HoldNoRun with a crashed, unrecovered session: %v", err)
	}
	var got map[string]bool
	err = r.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
		if live != 0 || stale != 1 {
			t.Errorf("live %d stale %d", live, stale)
		}
		got = seen
		return nil
	})
	if err != nil || len(got) != 2 || !got["providers/nous"] {
		t.Fatalf("baseline of the crashed session: %v %v", got, err)
	}
	r.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
		if stale != 0 || seen != nil {
			t.Errorf("the crashed session was handed out twice: stale %d seen %v", stale, seen)
		}
		return nil
	})
	release, err := HoldNoRun(ctx, dir, time.Second)
	if err != nil {
		t.Fatalf("HoldNoRun once recovered: %v", err)
	}
	release()

	// Record(nil) clears: a crash after it hands out no baseline.
	s2, _ := r.Join(ctx, func(bool) error { return nil })
	s2.Record(map[string]bool{"providers/x": true})
	s2.Record(nil)
	s2.lk.Unlock()
	r.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
		if stale != 1 || seen != nil {
			t.Errorf("after Record(nil): stale %d seen %v", stale, seen)
		}
		return nil
	})
}

// A recovery that fails keeps the crash record, with its baseline, for the
// next command; only a recovery that succeeded removes it (issue 10 item
// 11). Before, counting the sessions removed it before the recovery ran,
// so a recovery that timed out on auth.lock was never retried.
func TestFailedRecoveryKeepsCrashRecord(t *testing.T) {
	dir := t.TempDir()
	r := &Registry{Dir: dir}
	ctx := context.Background()
	crashed := filepath.Join(dir, "999999-dead"+suffix)
	os.WriteFile(crashed, []byte(`["providers/openai-codex"]`), 0o600)
	errRecover := errors.New("recovery failed: timed out waiting for auth.lock")
	for i := 0; i < 2; i++ {
		err := r.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
			if stale != 1 || !seen["providers/openai-codex"] {
				t.Fatalf("attempt %d: stale %d, baseline %v", i, stale, seen)
			}
			return errRecover
		})
		if !errors.Is(err, errRecover) {
			t.Fatalf("DoWith: %v", err)
		}
		if _, err := os.Stat(crashed); err != nil {
			t.Fatalf("attempt %d: the crash record went with a failed recovery: %v", i, err)
		}
	}
	// A run that fails to materialise does not consume it either.
	if _, err := r.JoinWith(ctx, func(bool, map[string]bool) error { return errRecover }); !errors.Is(err, errRecover) {
		t.Fatalf("JoinWith: %v", err)
	}
	if _, err := os.Stat(crashed); err != nil {
		t.Fatalf("the crash record went with a failed join: %v", err)
	}
	// The recovery that succeeds removes it, and the next caller sees none.
	if err := r.DoWith(ctx, func(int, int, map[string]bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crashed); err == nil {
		t.Fatal("the crash record stayed after its recovery succeeded")
	}
	r.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
		if stale != 0 || seen != nil {
			t.Fatalf("after recovery: stale %d, baseline %v", stale, seen)
		}
		return nil
	})
}

// The registry never follows a link for its directory or its files.
func TestRegistryRefusesLinks(t *testing.T) {
	top := t.TempDir()
	elsewhere := filepath.Join(top, "elsewhere")
	os.Mkdir(elsewhere, 0o700)
	vault := filepath.Join(top, "hermes-keys")
	os.Mkdir(vault, 0o700)
	if err := os.Symlink(elsewhere, filepath.Join(vault, "sessions")); err != nil {
		t.Fatal(err)
	}
	r := &Registry{Dir: filepath.Join(vault, "sessions")}
	if err := r.Do(context.Background(), func(int, int) error { return nil }); err == nil {
		t.Fatal("a linked sessions directory was used")
	}
	os.Remove(filepath.Join(vault, "sessions"))
	os.Mkdir(filepath.Join(vault, "sessions"), 0o700)
	if err := os.Symlink(filepath.Join(elsewhere, "lock"), filepath.Join(vault, "sessions", "registry.lock")); err != nil {
		t.Fatal(err)
	}
	if err := r.Do(context.Background(), func(int, int) error { return nil }); err == nil {
		t.Fatal("a linked registry.lock was followed")
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatalf("files appeared where the links point: %v", ents)
	}
}
