package backends_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
)

// suiteTimeout replaces the 3 s default deadline in the suites: pass runs
// gpg per call and the concurrency test queues 16 writes, on a CI machine
// that also runs other packages' tests. The deadline itself is tested with
// 50 ms against a hung store.
const suiteTimeout = 30 * time.Second

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
