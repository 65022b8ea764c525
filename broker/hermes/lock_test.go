package hermes

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func TestLockExclusiveTimeoutAndCancel(t *testing.T) {
	p := filepath.Join(tempDir(t), "sub", "auth.lock") // the directory is created
	ctx := context.Background()
	l1, err := AcquireLock(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(ctx, p, 120*time.Millisecond)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock: %v, want ErrLockTimeout", err)
	}
	if xerr.Code(err) != xerr.ExitLockTimeout || xerr.Hint(err) == "" {
		t.Fatalf("timeout error: code %d hint %q", xerr.Code(err), xerr.Hint(err))
	}

	// A caller's deadline is a timeout too.
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = AcquireLock(dctx, p, 0)
	cancel()
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("ctx deadline: %v, want ErrLockTimeout", err)
	}

	// A cancelled context is not a timeout.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = AcquireLock(cctx, p, time.Minute)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLockTimeout) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}

	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(ctx, p, time.Second)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
	l2.Unlock() // twice is harmless
	var nilLock *Lock
	nilLock.Unlock()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("the lock file must stay: %v", err)
	}
	// Hermes's msvcrt.locking needs byte 0 to exist; POSIX flock needs
	// nothing and gets nothing written.
	if want := map[bool]int64{true: 1, false: 0}[runtime.GOOS == "windows"]; fi.Size() != want {
		t.Fatalf("lock file holds %d bytes, want %d", fi.Size(), want)
	}
}

// pythonLockHolder starts python3 holding fcntl.flock on path the way
// Hermes's _file_lock does, and returns a function that makes it write
// marker and release.
func pythonLockHolder(t *testing.T, path, marker string) (release func()) {
	t.Helper()
	py := python(t)
	cmd := exec.Command(py, "-c", `
import fcntl, os, sys
lock = open(sys.argv[1], "a+")                  # O_RDWR|O_CREAT|O_APPEND, as Hermes
fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()                                 # hold until told
open(sys.argv[2], "w").write("released")         # written before unlocking
fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
lock.close()
`, path, marker)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("python did not take the lock: %q %v", line, err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			stdin.Close()
			cmd.Wait()
		}
	})
	return func() {
		stdin.Close()
		cmd.Wait()
		done = true
	}
}

// TestLockInteropWithPythonFlock: while Python holds fcntl.flock on
// auth.lock (what Hermes does), we time out; a waiting acquisition gets
// the lock only after Python released it.
func TestLockInteropWithPythonFlock(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "auth.lock")
	marker := filepath.Join(dir, "released")
	release := pythonLockHolder(t, p, marker)

	_, err := AcquireLock(context.Background(), p, 200*time.Millisecond)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("while python holds it: %v, want ErrLockTimeout", err)
	}

	got := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), p, 30*time.Second)
		if err == nil {
			// Python writes the marker before it unlocks: if we hold the
			// lock, the marker must exist.
			if _, serr := os.Stat(marker); serr != nil {
				err = errors.New("got the lock while python still held it")
			}
			l.Unlock()
		}
		got <- err
	}()
	release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestUpdateWaitsForPythonHolder(t *testing.T) {
	dir := tempDir(t)
	auth := filepath.Join(dir, "auth.json")
	lock := filepath.Join(dir, "auth.lock")
	os.WriteFile(auth, []byte(`{"version": 1}`), 0o600)
	release := pythonLockHolder(t, lock, filepath.Join(dir, "released"))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := Update(ctx, auth, lock, func(doc *Object) (bool, error) {
		t.Error("changed the store without the lock")
		return false, nil
	})
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("Update while python holds the lock: %v", err)
	}
	release()
}
