package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/broker"
)

// Issue 11 item 8: where the file backend feeds Hermes without a daemon,
// doctor says why that is slow and to run the daemon and unlock it.
func TestDoctorFileBackendWithoutDaemon(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("SKIPPED: the broker daemon runs on Linux and macOS")
	}
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(t.TempDir(), "broker.sock")
	_, got, _ := doctorJSON(t, env)
	c := got["daemon"]
	if c.Status != checkWarn || !strings.Contains(c.Detail, "file backend") || !strings.Contains(c.Detail, "scrypt") ||
		!strings.Contains(c.Hint, "hermes-keys serve") || !strings.Contains(c.Hint, "hermes-keys unlock") {
		t.Fatalf("daemon check with the file backend and no daemon: %+v", c)
	}
}

// Issue 10 item 7: a recipient appended to vault.json fails doctor's vault
// check, naming it by fingerprint.
func TestDoctorVaultRecipientMismatch(t *testing.T) {
	env, dir := fileVault(t)
	evil, _ := age.GenerateX25519Identity()
	p := filepath.Join(dir, broker.MetaFile)
	var m map[string]any
	b, _ := os.ReadFile(p)
	json.Unmarshal(b, &m)
	_, got, _ := doctorJSON(t, env)
	if c := got["vault"]; c.Status != checkOK {
		t.Fatalf("vault check before tampering: %+v", c)
	}
	m["recipients"] = append(m["recipients"].([]any), evil.Recipient().String())
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o600)
	code, got, _ := doctorJSON(t, env)
	c := got["vault"]
	if code == 0 || c.Status != checkFail || !strings.Contains(c.Detail, broker.Fingerprint(evil.Recipient().String())) || c.Hint == "" {
		t.Fatalf("vault check after a recipient was appended to vault.json: exit %d, %+v", code, c)
	}
}
