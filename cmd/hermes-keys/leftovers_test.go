package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// After a crash, the next command removes the temp files hermes-keys's own
// writers left (the Hermes store's and the vault's), and never Hermes's
// own (issue 10 item 9). Before, they piled up: recovery only listed them.
func TestCrashLeftoversRemoved(t *testing.T) {
	env, dir := fileVault(t)
	root := filepath.Dir(dir)
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(c.Process.Pid)
	hex := "0123456789abcdef0123456789abcdef"
	// A materialise that died before its rename: the block is in the vault.
	ours := filepath.Join(root, "auth.json.tmp.hermes-keys."+pid+"."+hex)
	os.WriteFile(ours, []byte(`{"version":1,"providers":{"nous":{"refresh_token":"CANARY-cli-1"}}}`), 0o600)
	vaultTemp := filepath.Join(dir, ".vault.age.tmp.0123456789abcdef")
	os.WriteFile(vaultTemp, []byte("age-encryption.org/v1 partial"), 0o600)
	theirs := filepath.Join(root, "auth.json.tmp."+pid+"."+hex)
	os.WriteFile(theirs, []byte(`{"version":1}`), 0o600)
	code, out, errOut := runCLI(t, env, "", "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range []string{ours, vaultTemp} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s stayed", p)
		}
	}
	if _, err := os.Lstat(theirs); err != nil {
		t.Errorf("Hermes's own temp file was removed: %v", err)
	}
}
