package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// TestRunOnWindows takes a Hermes home through migrate --env and run on
// Windows (Wine in CI) with the real Credential Manager: Hermes's lock is
// LockFileEx there, and the API keys reach Hermes through the home's own
// .env, materialised for the run (Hermes skips secrets.command on
// Windows); a key Hermes adds to .env during the run is sealed and scrubbed.
func TestRunOnWindows(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_WINCRED", "wincred")
	// Not t.TempDir: its clean-up fails under Wine 8 (RemoveAll).
	dir, err := os.MkdirTemp("", "hk-run-")
	if err != nil {
		t.Fatal(err)
	}
	const rt, key = "CANARY-win-refresh-7a1c", "sk-or-CANARY-win-0042"
	auth := filepath.Join(dir, "auth.json")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(auth, `{"version": 1, "providers": {"nous": {"access_token": "at", "refresh_token": "`+rt+`"}}}`)
	write(filepath.Join(dir, ".env"), "OPENROUTER_API_KEY="+key+"\n")
	env := func(k string) string {
		switch k {
		case "HERMES_HOME":
			return dir
		case "HERMES_KEYS_BACKEND", "HERMES_KEYS_PASSPHRASE", "HERMES_KEYS_PASSPHRASE_FILE":
			return ""
		}
		return os.Getenv(k)
	}
	hk := func(args ...string) (int, string, string) {
		ios, _, out, errOut := iox.Test()
		code := Main(ios, env, args)
		return code, out.String(), errOut.String()
	}
	code, _, errOut := hk("--backend", "wincred", "migrate", "--env", "--yes")
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, errOut)
	}
	meta, err := broker.LoadMeta(filepath.Join(dir, broker.DirName))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		b, err := backends.Open("wincred", backends.Config{Env: env})
		if err == nil {
			b.Delete(context.Background(), meta.Account())
		}
	}()
	if b, _ := os.ReadFile(auth); bytes.Contains(b, []byte(rt)) {
		t.Fatal("migrate left the token in auth.json")
	}

	const added = "CANARY-win-eleven-5e5e"
	envPath := filepath.Join(dir, ".env")
	code, out, errOut := hk("run", "--", "cmd", "/c", "type "+envPath+" & type "+auth+" & echo ELEVENLABS_API_KEY="+added+">> "+envPath)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "OPENROUTER_API_KEY="+key) {
		t.Errorf("the sealed API key was not in the home's .env for CMD:\n%s", out)
	}
	if !strings.Contains(out, rt) {
		t.Errorf("the sealed token was not materialised for CMD:\n%s", out)
	}
	if strings.Contains(errOut, rt) || strings.Contains(errOut, key) {
		t.Errorf("run's stderr holds a secret:\n%s", errOut)
	}
	if b, _ := os.ReadFile(auth); bytes.Contains(b, []byte(rt)) {
		t.Error("run did not scrub auth.json")
	}
	if b, _ := os.ReadFile(envPath); bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte(added)) {
		t.Errorf("run left an API key in .env:\n%s", b)
	}
	if code, out, _ := hk("get", "env:ELEVENLABS_API_KEY"); code != 0 || strings.TrimSpace(out) != added {
		t.Errorf("the key CMD added to .env under run is not in the vault: exit %d", code)
	}
	if code, _, _ := hk("run", "--", "cmd", "/c", "exit 7"); code != 7 {
		t.Errorf("run -- cmd /c exit 7: exit %d", code)
	}
}
