package backends

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// Issue 11 item 8: when opening identity.age is slow, the file backend says
// it was local work, not the keychain, and where the remedy is; never the
// passphrase or the secret.
func TestFileBackendSaysLocalWorkWasSlow(t *testing.T) {
	old := slowUnlock
	slowUnlock = 0 // every unlock counts as slow here
	defer func() { slowUnlock = old }()
	const pass, secret = "slow-passphrase-9c1", "CANARY-slow-secret"
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE": pass})
	dir := filepath.Join(t.TempDir(), "hermes-keys")
	ios, _, _, _ := iox.Test()
	b, err := Open("file", Config{Env: env, IO: ios, Dir: dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(context.Background(), "vault:x", secret); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	ios2 := &iox.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errOut, InFd: -1}
	b2, _ := Open("file", Config{Env: env, IO: ios2, Dir: dir})
	if _, err := b2.Get(context.Background(), "vault:x"); err != nil {
		t.Fatal(err)
	}
	msg := errOut.String()
	if !strings.Contains(msg, "not the keychain") || !strings.Contains(msg, "hermes-keys doctor") || !strings.Contains(msg, IdentityFile) {
		t.Fatalf("no honest message about the slow unlock: %q", msg)
	}
	if strings.Contains(msg, pass) || strings.Contains(msg, secret) {
		t.Fatalf("message leaks: %q", msg)
	}
}
