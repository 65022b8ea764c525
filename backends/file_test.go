package backends_test

import (
	"path/filepath"
	"testing"

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
