package backends_test

// Windows Credential Manager, for real: on Windows itself, or under Wine as
// scripts/test runs it. Wine does not enforce CredWrite's 2,560-byte blob
// limit, so the refusal the suite checks comes from our own Guard; on real
// Windows the store would refuse too.

import (
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
)

func TestRealWinCred(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_WINCRED", "wincred")
	b, err := backends.Open("wincred", backends.Config{Timeout: suiteTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if b.Limit != 2560 {
		t.Errorf("wincred limit %d, want CredWrite's 2560", b.Limit)
	}
	backendtest.Run(t, b)
}
