package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends/backendtest"
)

// TestDemoRealSecretService runs `hermes-keys demo` on the real Secret
// Service (the private gnome-keyring of scripts/test): it must choose it,
// go through every step, and leave no keychain item and no directory.
func TestDemoRealSecretService(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
	bin := buildBinary(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HERMES_HOME=", "HERMES_KEYS_BACKEND=", "HERMES_KEYS_PASSPHRASE=")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, want := range []string{"backend: secret-service", "stand-in hermes: found the openai-codex tokens",
		"checked: the vault holds the refresh token the stand-in rotated to", "checked: after run, no file under the home"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`vault:([0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("demo output names no vault key")
	}
	// The item is gone from the keyring.
	look := exec.Command("secret-tool", "lookup", "service", "hermes-keys", "username", "vault:"+string(m[1]))
	if got, err := look.Output(); err == nil || len(got) > 0 {
		t.Errorf("the demo's keychain item vault:%s is still there (%v)", m[1], err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the demo left %d entries in TMPDIR", len(ents))
	}
}
