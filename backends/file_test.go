package backends_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// TestFileBackend runs the conformance suite against the passphrase file
// backend (always: it needs nothing from the machine). A low scrypt work
// factor keeps it quick; the format is the same.
func TestFileBackend(t *testing.T) {
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE": "conformance passphrase"})
	b, err := backends.Open("file", backends.Config{Env: env, Dir: filepath.Join(t.TempDir(), "hermes-keys"), ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
}

// Issue 11 item 8: the file backend's work is local (scrypt of
// identity.age, a prompt), so the keychain deadline does not cut it: with a
// deadline of 1ns, far below any scrypt, Set and Get still succeed.
func TestFileBackendNoDeadlineOnLocalWork(t *testing.T) {
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE": "deadline passphrase"})
	dir := filepath.Join(t.TempDir(), "hermes-keys")
	b, err := backends.Open("file", backends.Config{Env: env, Dir: dir, ScryptWorkFactor: 12, Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Set(ctx, "vault:x", "CANARY-deadline"); err != nil {
		t.Fatalf("set under a 1ns deadline: %v", err)
	}
	// A second backend has no cached passphrase or store: Get runs scrypt.
	b2, _ := backends.Open("file", backends.Config{Env: env, Dir: dir, Timeout: time.Nanosecond})
	got, err := b2.Get(ctx, "vault:x")
	if err != nil || got != "CANARY-deadline" {
		t.Fatalf("get under a 1ns deadline: %q, %v", got, err)
	}
}
