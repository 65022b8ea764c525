package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// TestMigrateVaultLineFirst: a first migrate says which vault it created
// before its report, so in a terminal (one stream) the vault line reads
// first.
func TestMigrateVaultLineFirst(t *testing.T) {
	root := filepath.Join(t.TempDir(), ".hermes")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "auth.json"), []byte(`{"version":1,"providers":{"nous":{"refresh_token":"CANARY-first-rt"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERMES_HOME": root, "HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10"}
	var both bytes.Buffer
	ios := &iox.Streams{In: strings.NewReader(""), Out: &both, ErrOut: &both, InFd: -1}
	if code := Main(ios, iox.MapEnv(env), []string{"migrate", "--backend", "file", "--yes"}); code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, both.String())
	}
	out := both.String()
	created, sealed := strings.Index(out, "created vault "), strings.Index(out, "sealed providers/nous")
	if created < 0 || sealed < 0 || created > sealed {
		t.Fatalf("the vault line does not come before the report:\n%s", out)
	}
	if strings.Contains(out, "CANARY") {
		t.Fatal("migrate printed a secret")
	}
}

// TestBackendsNoVaultYet: with no vault, the file backend is not "locked";
// backends says there is no key file yet and what creating one needs.
func TestBackendsNoVaultYet(t *testing.T) {
	root := filepath.Join(t.TempDir(), ".hermes")
	env := map[string]string{"HERMES_HOME": root, "DBUS_SESSION_BUS_ADDRESS": ""}
	code, out, errOut := runCLI(t, env, "", "backends")
	if code != 0 {
		t.Fatalf("backends: exit %d\n%s", code, errOut)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "file ") {
			line = l
		}
	}
	if !strings.Contains(line, "no vault key file yet") || !strings.Contains(line, "no passphrase source to create one") || strings.Contains(line, "locked") {
		t.Fatalf("file backend line: %q", line)
	}
	// With a vault whose key file exists, the same lack is a locked vault.
	env, _ = fileVault(t)
	delete(env, "HERMES_KEYS_PASSPHRASE")
	env["DBUS_SESSION_BUS_ADDRESS"] = ""
	_, out, _ = runCLI(t, env, "", "backends")
	if !strings.Contains(out, "vault is locked: no passphrase source") {
		t.Fatalf("backends with a vault and no passphrase:\n%s", out)
	}
}

// TestPrintableNames: names taken from a store are printed escaped when
// they hold anything non-printable, so a provider name cannot colour the
// terminal or forge a line of migrate's or status's output.
func TestPrintableNames(t *testing.T) {
	root := filepath.Join(t.TempDir(), ".hermes")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	evil := `{"version":1,"providers":{"x\u001b[31mred\nfake: line\u202e":{"refresh_token":"CANARY-evil-rt"}}}`
	if err := os.WriteFile(filepath.Join(root, "auth.json"), []byte(evil), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERMES_HOME": root, "HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10", "DBUS_SESSION_BUS_ADDRESS": ""}
	for _, args := range [][]string{
		{"status"},
		{"migrate", "--backend", "file", "--yes"},
		{"status"},
		{"status", "--json"},
		{"unmigrate", "--yes"},
	} {
		code, out, errOut := runCLI(t, env, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		json := len(args) == 2 && args[1] == "--json"
		for _, bad := range []string{"\x1b", "\u202e", "\nfake: line"} {
			// JSON escapes control characters itself; a U+202E inside a
			// JSON string is valid JSON for the program that reads it.
			if json && bad == "\u202e" {
				continue
			}
			if strings.Contains(out+errOut, bad) {
				t.Errorf("%v printed %q raw:\n%s", args, bad, out)
			}
		}
		if !json && !strings.Contains(out, `\x1b[31mred\nfake: line\u202e`) {
			t.Errorf("%v does not show the name escaped:\n%s", args, out)
		}
		if strings.Contains(out+errOut, "CANARY") {
			t.Fatalf("%v printed a secret", args)
		}
	}
}

func TestPrintableText(t *testing.T) {
	for in, want := range map[string]string{
		"plain\nlines\tok": "plain\nlines\tok",
		"a\x1b[2Jb":        `a\x1b[2Jb`,
		"bidi\u202eevil":   `bidi\u202eevil`,
		"nul\x00":          `nul\x00`,
		"ünïcode ✓":        "ünïcode ✓",
	} {
		if got := printableText(in); got != want {
			t.Errorf("printableText(%q) = %q, want %q", in, got, want)
		}
	}
}
