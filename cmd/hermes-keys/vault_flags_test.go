package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/broker"
)

// Issue 10 item 15: --if-generation below -1 is a usage error (exit 2) and
// writes nothing; it used to skip the generation check.
func TestPutIfGenerationBelowMinusOne(t *testing.T) {
	env, dir := fileVault(t)
	before := snapshotDir(t, dir)
	code, out, errOut := runCLI(t, env, "CANARY-ifgen", "put", "env:IFGEN_KEY", "--if-generation", "-2")
	if code != 2 {
		t.Fatalf("put --if-generation -2: exit %d, want 2\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "--if-generation") || !strings.Contains(errOut, "hint:") || strings.Contains(out+errOut, "CANARY") {
		t.Fatalf("message: %q", errOut)
	}
	if snapshotDir(t, dir) != before {
		t.Fatal("a refused put changed the vault")
	}
	// -1 (the default, no check) and 0 (must be new) still work.
	if code, _, errOut := runCLI(t, env, "CANARY-ifgen", "put", "env:IFGEN_KEY", "--if-generation", "0"); code != 0 {
		t.Fatalf("put --if-generation 0: %d %s", code, errOut)
	}
}

// snapshotDir is the names and contents of dir's files.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + "\x00" + string(data) + "\x00")
	}
	return b.String()
}

var recoveryRE = regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]+`)

// Issue 10 items 7 and 15: `migrate --recovery` on an existing vault adds a
// recovery key, printed once, that opens the vault; status lists both keys
// by fingerprint; a second --recovery is refused and changes nothing; a
// recipient appended to vault.json makes status warn and writes fail.
func TestMigrateRecoveryOnExistingVaultAndStatus(t *testing.T) {
	env, dir := fileVault(t)
	code, out, errOut := runCLI(t, env, "", "migrate", "--recovery", "--yes")
	if code != 0 {
		t.Fatalf("migrate --recovery: %d\n%s%s", code, out, errOut)
	}
	keys := recoveryRE.FindAllString(out+errOut, -1)
	if len(keys) != 1 {
		t.Fatalf("want the recovery key printed once, got %d\n%s", len(keys), errOut)
	}
	rid, err := age.ParseX25519Identity(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := os.ReadFile(filepath.Join(dir, broker.VaultFile))
	r, err := age.Decrypt(bytes.NewReader(ct), rid)
	if err != nil {
		t.Fatalf("the printed recovery key does not open vault.age: %v", err)
	}
	io.Copy(io.Discard, r)

	code, out, errOut = runCLI(t, env, "", "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	meta, _ := broker.LoadMeta(dir)
	for _, want := range []string{
		broker.Fingerprint(meta.Recipients[0]) + " (vault key)",
		broker.Fingerprint(rid.Recipient().String()) + " (recovery key)",
		"recovery:    true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "AGE-SECRET-KEY") || strings.Contains(out, "WARNING") {
		t.Errorf("status prints a secret key or a warning:\n%s", out)
	}

	before := snapshotDir(t, dir)
	code, out, errOut = runCLI(t, env, "", "migrate", "--recovery", "--yes")
	if code != 5 || !strings.Contains(errOut, "already has a recovery key") || recoveryRE.MatchString(out+errOut) {
		t.Fatalf("second migrate --recovery: %d\n%s%s", code, out, errOut)
	}
	if snapshotDir(t, dir) != before {
		t.Fatal("a refused --recovery changed the vault")
	}

	// Someone appends a recipient to vault.json.
	evil, _ := age.GenerateX25519Identity()
	p := filepath.Join(dir, broker.MetaFile)
	var m map[string]any
	b, _ := os.ReadFile(p)
	json.Unmarshal(b, &m)
	m["recipients"] = append(m["recipients"].([]any), evil.Recipient().String())
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o600)
	code, out, _ = runCLI(t, env, "", "status")
	fp := broker.Fingerprint(evil.Recipient().String())
	if code != 0 || !strings.Contains(out, "WARNING") || !strings.Contains(out, fp) {
		t.Fatalf("status after a recipient was appended to vault.json: %d\n%s", code, out)
	}
	code, _, errOut = runCLI(t, env, "CANARY-after-tamper", "put", "env:TAMPER_KEY")
	if code != 5 || !strings.Contains(errOut, fp) || !strings.Contains(errOut, "hint:") || strings.Contains(errOut, "CANARY") {
		t.Fatalf("put after tampering: %d %s", code, errOut)
	}
}
