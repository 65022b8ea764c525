package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// A recovery that fails keeps the crash record (issue 10 item 11): with a
// crashed run's session file left, and auth.lock held as Hermes holds it
// during a refresh, `status --lock-timeout 1s` exits 6 and the record is
// still there; the next status, with the lock free, recovers (seals and
// scrubs the materialised tokens). Before, the record was removed while
// the sessions were counted, so the next status did not recover and the
// tokens stayed in auth.json.
func TestFailedRecoveryIsRetried(t *testing.T) {
	env, dir := fileVault(t)
	root := filepath.Dir(dir)
	const canary = "CANARY-materialised-by-a-crashed-run"
	auth := `{"version": 1, "providers": {"openai-codex": {"tokens": {"access_token": "CANARY-a", "refresh_token": "` + canary + `"}}}}`
	if err := os.WriteFile(filepath.Join(root, "auth.json"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	// The crashed run's record: a session file nobody holds a lock on.
	sessions := filepath.Join(dir, "sessions")
	if err := os.MkdirAll(sessions, 0o700); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(sessions, "999999-0123456789ab.session")
	if err := os.WriteFile(record, []byte(`["providers/openai-codex"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Hermes refreshing: auth.lock held (flock is per open file, so this
	// holds it against the in-process command too).
	lk, err := lockfile.Acquire(context.Background(), filepath.Join(root, "auth.lock"), 0)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "", "status", "--lock-timeout", "1s")
	if code != xerr.ExitLockTimeout {
		t.Errorf("status with auth.lock held: exit %d, want 6\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("the crash record went with a failed recovery: %v", err)
	}
	lk.Unlock()

	code, out, errOut = runCLI(t, env, "", "status")
	if code != 0 || !strings.Contains(errOut, "ended without cleaning up") {
		t.Fatalf("the next status did not recover: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "auth.json")); strings.Contains(string(b), canary) {
		t.Errorf("the materialised tokens stayed in auth.json:\n%s", b)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("the crash record stayed after its recovery succeeded")
	}
	if strings.Contains(out+errOut, canary) {
		t.Error("status printed a token")
	}
}
