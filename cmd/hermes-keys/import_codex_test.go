package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

const codexRefreshCanary = "rt_CANARY_codex_refresh_0123456789abcdefghijklmnop"

func codexToken(t *testing.T, exp time.Time, account string) string {
	t.Helper()
	auth := map[string]any{"chatgpt_account_id": account, "chatgpt_plan_type": "plus"}
	c := jwt.MapClaims{"iss": "https://auth.openai.com", "aud": []string{"https://api.openai.com/v1"}, "sub": "auth0|u1",
		"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "exp": exp.Unix(), "email": "dev@example.invalid",
		"https://api.openai.com/auth": auth}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("test key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func codexHome(t *testing.T, accessExp time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "codex")
	os.MkdirAll(dir, 0o700)
	doc := map[string]any{"auth_mode": "chatgpt", "OPENAI_API_KEY": nil, "last_refresh": time.Now().UTC().Format(time.RFC3339Nano),
		"tokens": map[string]any{"id_token": codexToken(t, time.Now().Add(time.Hour), "acct-1"), "access_token": codexToken(t, accessExp, "acct-1"),
			"refresh_token": codexRefreshCanary, "account_id": "acct-1"}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	os.WriteFile(filepath.Join(dir, "auth.json"), b, 0o600)
	return dir
}

func TestImportCodex(t *testing.T) {
	env, _ := fileVault(t)
	home := codexHome(t, time.Now().Add(10*24*time.Hour))
	env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + filepath.Join(home, "none")
	before := tree(t, home)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--codex-home", home, "--yes", "--activate")
	if code != 0 {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, codexRefreshCanary) || strings.Contains(out+errOut, "eyJ") {
		t.Fatal("import printed a token")
	}
	if !strings.Contains(errOut, "share one refresh token") {
		t.Errorf("no shared-token warning:\n%s", errOut)
	}
	code, got, _ := runCLI(t, env, "", "get", "openai-codex.tokens.refresh_token")
	if code != 0 || strings.TrimSpace(got) != codexRefreshCanary {
		t.Fatalf("sealed block: %d", code)
	}
	// Hermes already has a login now: a second import is refused (exit 5).
	code, _, errOut = runCLI(t, env, "", "import", "codex", "--codex-home", home, "--yes")
	if code != xerr.ExitRefused {
		t.Fatalf("second import: exit %d\n%s", code, errOut)
	}
	if after := tree(t, home); after != before {
		t.Fatal("CODEX_HOME changed")
	}
}

func TestImportCodexExpiredRefused(t *testing.T) {
	env, dir := fileVault(t)
	home := codexHome(t, time.Now().Add(-time.Hour))
	env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + filepath.Join(home, "none")
	vaultBefore := tree(t, dir)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--codex-home", home, "--yes")
	if code != xerr.ExitRefused || !strings.Contains(errOut, "hint:") {
		t.Fatalf("expired: exit %d\n%s\n%s", code, out, errOut)
	}
	if tree(t, dir) != vaultBefore {
		t.Fatal("a refused import changed the vault")
	}
}
