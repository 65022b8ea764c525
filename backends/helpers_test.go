package backends_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
)

// unique is a name no other run, concurrent or earlier, uses.
func unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(b))
}

func open(t *testing.T, name string, cfg backends.Config) *backends.Backend {
	t.Helper()
	b, err := backends.Open(name, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return b
}
