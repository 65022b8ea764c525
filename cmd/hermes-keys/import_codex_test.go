package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/internal/iox"
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

// Canaries: no command output may contain any of them.
const (
	codexRefreshCanary2 = "rt_CANARY_codex_second_login_9876543210zyxwvutsrqp"
	codexAPIKeyCanary   = "sk-proj-CANARY_codex_apikey_0123456789abcdefghijkl"
)

// codexClaims returns the claims of a test token; edit adjusts them.
func codexTokenWith(t *testing.T, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"iss": "https://auth.openai.com", "aud": []string{"https://api.openai.com/v1"}, "sub": "auth0|u1",
		"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "exp": time.Now().Add(10 * 24 * time.Hour).Unix(), "email": "dev@example.invalid",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "acct-1", "chatgpt_plan_type": "plus"}}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("test key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeCodexAuth writes doc as $dir/auth.json the way Codex does.
func writeCodexAuth(t *testing.T, dir string, doc map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// chatgptDoc is a valid ChatGPT login with the given refresh token.
func chatgptDoc(t *testing.T, refresh string) map[string]any {
	return map[string]any{"auth_mode": "chatgpt", "OPENAI_API_KEY": nil, "last_refresh": time.Now().UTC().Format(time.RFC3339Nano),
		"tokens": map[string]any{"id_token": codexTokenWith(t, nil), "access_token": codexTokenWith(t, nil),
			"refresh_token": refresh, "account_id": "acct-1"}}
}

// importEnv is a Hermes root with a file vault, no usable D-Bus (so the
// keyring sources answer at once) and an empty CODEX_HOME.
func importEnv(t *testing.T) (env map[string]string, vaultDir, codex string) {
	t.Helper()
	env, vaultDir = fileVault(t)
	codex = filepath.Join(t.TempDir(), "codex")
	if err := os.Mkdir(codex, 0o700); err != nil {
		t.Fatal(err)
	}
	env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + filepath.Join(codex, "no-bus")
	env["CODEX_HOME"] = codex
	return env, vaultDir, codex
}

// state is everything an import may change: the Hermes root (auth.json,
// .env, the vault) and CODEX_HOME, by path, mode and content.
func state(t *testing.T, env map[string]string, codex string) string {
	t.Helper()
	return tree(t, env["HERMES_HOME"]) + "--\n" + tree(t, codex)
}

// noSecrets fails if the output shows any token or key.
func noSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{codexRefreshCanary, codexRefreshCanary2, codexAPIKeyCanary, "CANARY", "eyJ"} {
		if strings.Contains(out, s) {
			t.Fatalf("%s printed a secret (%q):\n%s", what, s, out)
		}
	}
}

// readVault opens the file vault of env as a test.
func readVault(t *testing.T, env map[string]string, dir string) *broker.Contents {
	t.Helper()
	b, err := backends.Open("file", backends.Config{Env: iox.MapEnv(env), Dir: dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, err := broker.Open(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codexPool returns the vault's openai-codex pool records of the root.
func codexPool(c *broker.Contents) map[string]*broker.Record {
	out := map[string]*broker.Record{}
	for k, r := range c.Records {
		if strings.HasPrefix(k, "pool/openai-codex/") {
			out[k] = r
		}
	}
	return out
}

func blockMeta(t *testing.T, r *broker.Record) hermes.Block {
	t.Helper()
	var b hermes.Block
	if err := json.Unmarshal(r.Block, &b); err != nil {
		t.Fatalf("record placement: %v (%s)", err, r.Block)
	}
	return b
}

// TestImportCodexSealsPoolEntryWithBlock: the import seals the
// openai-codex block and the device_code pool entry Hermes derives from it
// in one vault write, in one group, and unmigrate materialises both.
func TestImportCodexSealsPoolEntryWithBlock(t *testing.T) {
	env, dir, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	genBefore := readVault(t, env, dir).Generation
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes")
	if code != 0 {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "import", out+errOut)
	c := readVault(t, env, dir)
	if c.Generation != genBefore+1 {
		t.Errorf("vault generation %d -> %d: the pair was not one write", genBefore, c.Generation)
	}
	prov := c.Records["providers/openai-codex"]
	pool := codexPool(c)
	if prov == nil || len(pool) != 1 {
		t.Fatalf("records: provider %v, pool %d", prov != nil, len(pool))
	}
	var key string
	var entry *broker.Record
	for k, r := range pool {
		key, entry = k, r
	}
	pm, em := blockMeta(t, prov), blockMeta(t, entry)
	if pm.Group != "openai-codex" || em.Group != "openai-codex" || pm.Kind != hermes.KindProvider || em.Kind != hermes.KindPoolEntry ||
		em.Source != "device_code" || "pool/openai-codex/"+em.ID != key || pm.Key != "providers/openai-codex" {
		t.Fatalf("placement: %+v / %+v", pm, em)
	}
	if !strings.Contains(out, key) {
		t.Errorf("output does not name %s:\n%s", key, out)
	}
	var blk struct {
		Tokens map[string]string `json:"tokens"`
	}
	var ent map[string]any
	json.Unmarshal(prov.Value, &blk)
	json.Unmarshal(entry.Value, &ent)
	if ent["access_token"] != blk.Tokens["access_token"] || ent["refresh_token"] != codexRefreshCanary || ent["source"] != "device_code" ||
		ent["auth_type"] != "oauth" || ent["base_url"] != "https://chatgpt.com/backend-api/codex" || ent["label"] != "dev@example.invalid" {
		t.Fatalf("pool entry does not match the block: %v", ent)
	}
	code, got, _ := runCLI(t, env, "", "get", "pool:openai-codex/"+em.ID+".refresh_token")
	if code != 0 || strings.TrimSpace(got) != codexRefreshCanary {
		t.Fatalf("get pool entry: exit %d", code)
	}

	// unmigrate puts the pair back together.
	code, out, errOut = runCLI(t, env, "", "unmigrate", "--yes")
	if code != 0 {
		t.Fatalf("unmigrate: %d\n%s\n%s", code, out, errOut)
	}
	var doc struct {
		Providers map[string]struct {
			Tokens map[string]string `json:"tokens"`
		} `json:"providers"`
		Pool map[string][]map[string]any `json:"credential_pool"`
	}
	raw, err := os.ReadFile(filepath.Join(env["HERMES_HOME"], "auth.json"))
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		t.Fatalf("auth.json after unmigrate: %v\n%s", err, raw)
	}
	if doc.Providers["openai-codex"].Tokens["refresh_token"] != codexRefreshCanary {
		t.Error("unmigrate did not restore the block")
	}
	if p := doc.Pool["openai-codex"]; len(p) != 1 || p[0]["refresh_token"] != codexRefreshCanary || p[0]["id"] != em.ID {
		t.Errorf("unmigrate did not restore the pool entry with the block: %v", doc.Pool)
	}
}

// TestImportCodexReplacesFilePair: Hermes's own login needs a new one
// (relogin_required), and the file still holds it with its device_code
// entry in plaintext. The import replaces both: the entry keeps its id
// and priority and loses its dead status, the manual entry stays, and the
// file keeps no half of the old pair.
func TestImportCodexReplacesFilePair(t *testing.T) {
	env, dir, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	authPath := filepath.Join(env["HERMES_HOME"], "auth.json")
	old := `{"version":1,"providers":{"nous":{"portal_base_url":"x"},"openai-codex":{"tokens":{"access_token":"OLD-a","refresh_token":"OLD-r"},` +
		`"last_auth_error":{"code":"refresh_token_reused","relogin_required":true}}},"active_provider":"nous",` +
		`"credential_pool":{"openai-codex":[{"id":"m1m1m1","label":"mine","auth_type":"oauth","priority":0,"source":"manual:device_code","access_token":"OLD-m"},` +
		`{"id":"d0d0d0","label":"me","auth_type":"oauth","priority":1,"source":"device_code","access_token":"OLD-a","refresh_token":"OLD-r","last_status":"dead","request_count":5}]}}`
	if err := os.WriteFile(authPath, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes", "--activate")
	if code != 0 {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "import", out+errOut)
	raw, _ := os.ReadFile(authPath)
	var doc struct {
		Providers map[string]json.RawMessage  `json:"providers"`
		Active    string                      `json:"active_provider"`
		Pool      map[string][]map[string]any `json:"credential_pool"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Providers["openai-codex"]; ok || doc.Providers["nous"] == nil || doc.Active != "openai-codex" {
		t.Errorf("file after import: %s", raw)
	}
	if p := doc.Pool["openai-codex"]; len(p) != 1 || p[0]["id"] != "m1m1m1" {
		t.Errorf("file pool after import: %v", doc.Pool)
	}
	c := readVault(t, env, dir)
	r := c.Records["pool/openai-codex/d0d0d0"]
	if r == nil || len(codexPool(c)) != 1 {
		t.Fatalf("vault pool: %v", c.Keys())
	}
	var ent map[string]any
	json.Unmarshal(r.Value, &ent)
	if ent["refresh_token"] != codexRefreshCanary || ent["last_status"] != nil || ent["label"] != "me" || ent["priority"] != 1.0 || ent["request_count"] != 5.0 {
		t.Errorf("upserted entry: %v", ent)
	}
	if m := blockMeta(t, r); m.Index != 1 || m.Group != "openai-codex" {
		t.Errorf("entry placement: %+v", m)
	}
}

func TestImportCodexDryRun(t *testing.T) {
	env, _, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	before := state(t, env, codex)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--dry-run", "--activate", "--take-over", "--api-key")
	if code != 0 || !strings.Contains(out, "nothing was stored") || !strings.Contains(out, "providers/openai-codex") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "dry run", out+errOut)
	if !strings.Contains(out, "mode:") || !strings.Contains(out, "account:") {
		t.Errorf("dry run shows no summary:\n%s", out)
	}
	if after := state(t, env, codex); after != before {
		t.Fatal("dry run changed files")
	}
}

// TestImportCodexReplace: a working Hermes login is replaced only with
// --replace; the refusal changes nothing.
func TestImportCodexReplace(t *testing.T) {
	env, dir, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	if code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes"); code != 0 {
		t.Fatalf("first import: %d\n%s\n%s", code, out, errOut)
	}
	firstPool := codexPool(readVault(t, env, dir))
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary2))

	before := state(t, env, codex)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes")
	if code != xerr.ExitRefused || !strings.Contains(errOut, "--replace") {
		t.Fatalf("import over a working login: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "refusal", out+errOut)
	if state(t, env, codex) != before {
		t.Fatal("a refused import changed files")
	}

	code, out, errOut = runCLI(t, env, "", "import", "codex", "--yes", "--replace")
	if code != 0 {
		t.Fatalf("--replace: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "--replace", out+errOut)
	if code, got, _ := runCLI(t, env, "", "get", "openai-codex.tokens.refresh_token"); code != 0 || strings.TrimSpace(got) != codexRefreshCanary2 {
		t.Fatalf("after --replace the block holds the old login (exit %d)", code)
	}
	pool := codexPool(readVault(t, env, dir))
	if len(pool) != 1 {
		t.Fatalf("%d device_code entries after --replace", len(pool))
	}
	for k, r := range pool {
		if firstPool[k] == nil {
			t.Errorf("the pool entry changed id (%s)", k)
		}
		if !strings.Contains(string(r.Value), codexRefreshCanary2) {
			t.Error("the pool entry still holds the old refresh token")
		}
	}
}

// TestImportCodexTakeOverNeedsYes: without --yes and without a terminal
// the import stops before the token endpoint is called or anything is
// written (exit 2).
func TestImportCodexTakeOverNeedsYes(t *testing.T) {
	env, _, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	env["HERMES_KEYS_CODEX_TOKEN_URL"] = srv.URL
	before := state(t, env, codex)
	code, out, errOut := runCLI(t, env, "y\n", "import", "codex", "--take-over")
	if code != xerr.ExitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("take-over without --yes: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "take-over refusal", out+errOut)
	if calls.Load() != 0 {
		t.Fatal("the token endpoint was called without confirmation")
	}
	if state(t, env, codex) != before {
		t.Fatal("files changed")
	}
}

// TestImportCodexRefusals: each broken login is refused with exit 5 and
// a hint, prints no secret, and leaves every file byte-identical.
func TestImportCodexRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  func(t *testing.T) any // map, or []byte written as is
		msg  string
	}{
		{"malformed auth.json", func(t *testing.T) any {
			return []byte(`{"auth_mode":"chatgpt","tokens":{"refresh_token":"` + codexRefreshCanary + `"`)
		}, "auth.json"},
		{"not utf-8", func(t *testing.T) any { return []byte("{\"tokens\":\"\xff\xfe" + codexRefreshCanary + "\"}") }, "auth.json"},
		{"account mismatch", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			d["tokens"].(map[string]any)["access_token"] = codexTokenWith(t, func(c jwt.MapClaims) {
				c["https://api.openai.com/auth"] = map[string]any{"chatgpt_account_id": "acct-OTHER"}
			})
			return d
		}, "account"},
		{"subject mismatch", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			d["tokens"].(map[string]any)["id_token"] = codexTokenWith(t, func(c jwt.MapClaims) { c["sub"] = "auth0|someone-else" })
			return d
		}, "sub"},
		{"access token expiring within 5 minutes", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			d["tokens"].(map[string]any)["access_token"] = codexTokenWith(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(2 * time.Minute).Unix() })
			return d
		}, "expir"},
		{"id_token not a JWT", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			d["tokens"].(map[string]any)["id_token"] = "not-a-jwt-" + codexRefreshCanary2
			return d
		}, "id_token"},
		{"missing refresh token", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			delete(d["tokens"].(map[string]any), "refresh_token")
			return d
		}, "refresh"},
		{"missing last_refresh", func(t *testing.T) any {
			d := chatgptDoc(t, codexRefreshCanary)
			delete(d, "last_refresh")
			return d
		}, "last_refresh"},
		{"api key without --api-key", func(t *testing.T) any {
			return map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": codexAPIKeyCanary}
		}, "--api-key"},
		{"logged out", func(t *testing.T) any { return nil }, "codex login"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, _, codex := importEnv(t)
			switch d := c.doc(t).(type) {
			case []byte:
				os.WriteFile(filepath.Join(codex, "auth.json"), d, 0o600)
			case map[string]any:
				writeCodexAuth(t, codex, d)
			}
			before := state(t, env, codex)
			code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes", "--replace")
			if code != xerr.ExitRefused || !strings.Contains(errOut, "hint:") || !strings.Contains(strings.ToLower(errOut), strings.ToLower(c.msg)) {
				t.Fatalf("exit %d (want 5 mentioning %q)\n%s\n%s", code, c.msg, out, errOut)
			}
			noSecrets(t, c.name, out+errOut)
			if state(t, env, codex) != before {
				t.Fatal("a refused import changed files")
			}
		})
	}
}

// TestImportCodexMissingHome: a CODEX_HOME that does not exist is refused
// (exit 5) and not created.
func TestImportCodexMissingHome(t *testing.T) {
	env, _, codex := importEnv(t)
	missing := filepath.Join(codex, "nope")
	for _, args := range [][]string{{"import", "codex", "--yes"}, {"import", "codex", "--yes", "--codex-home", missing}} {
		env["CODEX_HOME"] = missing
		before := state(t, env, codex)
		code, out, errOut := runCLI(t, env, "", args...)
		if code != xerr.ExitRefused || !strings.Contains(errOut, "does not exist") || !strings.Contains(errOut, "hint:") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatal("the import created CODEX_HOME")
		}
		if state(t, env, codex) != before {
			t.Fatal("files changed")
		}
	}
}

// TestImportCodexAPIKey: an API-key-only login is stored, with --api-key,
// as env:OPENAI_API_KEY and nothing else; a second import does not
// overwrite it without --replace.
func TestImportCodexAPIKey(t *testing.T) {
	env, dir, codex := importEnv(t)
	writeCodexAuth(t, codex, map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": codexAPIKeyCanary})
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--api-key", "--yes")
	if code != 0 {
		t.Fatalf("import --api-key: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "import --api-key", out+errOut)
	if strings.Contains(errOut, "refresh token") {
		t.Errorf("shared refresh token warning for an API key:\n%s", errOut)
	}
	if code, got, _ := runCLI(t, env, "", "get", "env:OPENAI_API_KEY"); code != 0 || strings.TrimSpace(got) != codexAPIKeyCanary {
		t.Fatalf("get env:OPENAI_API_KEY: exit %d", code)
	}
	c := readVault(t, env, dir)
	if c.Records["providers/openai-codex"] != nil || len(codexPool(c)) != 0 {
		t.Fatal("an API key became an openai-codex login")
	}

	writeCodexAuth(t, codex, map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": codexAPIKeyCanary + "2"})
	before := state(t, env, codex)
	code, out, errOut = runCLI(t, env, "", "import", "codex", "--api-key", "--yes")
	if code != xerr.ExitRefused || !strings.Contains(errOut, "--replace") {
		t.Fatalf("second import: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "second import", out+errOut)
	if state(t, env, codex) != before {
		t.Fatal("a refused import changed files")
	}
	if code, out, errOut = runCLI(t, env, "", "import", "codex", "--api-key", "--yes", "--replace"); code != 0 {
		t.Fatalf("--replace: %d\n%s\n%s", code, out, errOut)
	}
	if _, got, _ := runCLI(t, env, "", "get", "env:OPENAI_API_KEY"); strings.TrimSpace(got) != codexAPIKeyCanary+"2" {
		t.Fatal("--replace did not store the new key")
	}
	if code, _, errOut := runCLI(t, env, "", "import", "codex", "--api-key", "--take-over", "--yes", "--replace"); code != xerr.ExitUsage {
		t.Fatalf("--take-over of an API key: exit %d\n%s", code, errOut)
	}
}

// TestImportCodexRefusedWhileRunLive: a live run's Hermes file is the truth
// for the Codex block, and its next seal would take an import back out, so
// import refuses (exit 1, nothing changed) before a take-over spends
// Codex's refresh token.
func TestImportCodexRefusedWhileRunLive(t *testing.T) {
	env, vaultDir, codex := importEnv(t)
	writeCodexAuth(t, codex, chatgptDoc(t, codexRefreshCanary))
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	env["HERMES_KEYS_CODEX_TOKEN_URL"] = srv.URL
	reg := &session.Registry{Dir: filepath.Join(vaultDir, "sessions")}
	sess, err := reg.Join(context.Background(), func(bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Leave(context.Background(), sess, func(bool) error { return nil })
	before := state(t, env, codex)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--take-over", "--yes")
	if code != xerr.ExitFailed || !strings.Contains(errOut, "is live") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("import during a run: %d\n%s\n%s", code, out, errOut)
	}
	noSecrets(t, "import during a run", out+errOut)
	if calls.Load() != 0 {
		t.Fatal("the token endpoint was called though the import was refused")
	}
	if state(t, env, codex) != before {
		t.Fatal("files changed")
	}
}

const (
	codexPATCanary  = "at-CANARY_codex_pat_0123456789abcdefghijklmnopqrstu"
	codexPATCanary2 = "at-CANARY_codex_pat_second_9876543210zyxwvutsrqpon"
)

// TestImportCodexPAT: a personal access token login, as `codex login
// --with-access-token` writes it, becomes the manual openai-codex pool entry
// Hermes's own `auth add openai-codex --type api-key` would write; a second
// token replaces it only with --replace; unmigrate gives Hermes the entry.
func TestImportCodexPAT(t *testing.T) {
	env, dir, codex := importEnv(t)
	writeCodexAuth(t, codex, map[string]any{"OPENAI_API_KEY": nil, "personal_access_token": codexPATCanary})
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes")
	if code != 0 {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
	for _, s := range []string{codexPATCanary, "CANARY"} {
		if strings.Contains(out+errOut, s) {
			t.Fatalf("import printed the token:\n%s\n%s", out, errOut)
		}
	}
	if !strings.Contains(out, "mode:           personalAccessToken") || !strings.Contains(out, "sealed pool/openai-codex/") {
		t.Errorf("summary:\n%s", out)
	}
	pool := codexPool(readVault(t, env, dir))
	if len(pool) != 1 {
		t.Fatalf("pool records: %d", len(pool))
	}
	var key string
	for k := range pool {
		key = k
	}
	var e map[string]any
	if err := json.Unmarshal(pool[key].Value, &e); err != nil {
		t.Fatal(err)
	}
	if e["access_token"] != codexPATCanary || e["source"] != "manual:codex_pat" || e["auth_type"] != "api_key" ||
		e["base_url"] != "https://chatgpt.com/backend-api/codex" || "pool/openai-codex/"+e["id"].(string) != key {
		t.Fatalf("entry %v", e)
	}

	// The same token again: nothing to do, nothing written.
	before := state(t, env, codex)
	if code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes"); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("same token: %d\n%s\n%s", code, out, errOut)
	}
	if state(t, env, codex) != before {
		t.Fatal("importing the same token changed files")
	}
	// Another token: refused (exit 5, nothing changed) without --replace.
	writeCodexAuth(t, codex, map[string]any{"OPENAI_API_KEY": nil, "personal_access_token": codexPATCanary2})
	before = state(t, env, codex)
	code, out, errOut = runCLI(t, env, "", "import", "codex", "--yes")
	if code != xerr.ExitRefused || !strings.Contains(errOut, "hint:") || !strings.Contains(errOut, "--replace") {
		t.Fatalf("second token: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "CANARY") {
		t.Fatal("a refusal printed a token")
	}
	if state(t, env, codex) != before {
		t.Fatal("a refused import changed files")
	}
	if code, _, errOut := runCLI(t, env, "", "import", "codex", "--yes", "--take-over"); code != xerr.ExitUsage {
		t.Fatalf("--take-over of a PAT: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes", "--replace"); code != 0 {
		t.Fatalf("--replace: %d\n%s\n%s", code, out, errOut)
	}
	pool = codexPool(readVault(t, env, dir))
	if len(pool) != 1 || pool[key] == nil || !strings.Contains(string(pool[key].Value), codexPATCanary2) {
		t.Fatalf("after --replace: %d records, same id %v", len(pool), pool[key] != nil)
	}

	// unmigrate: Hermes gets the entry back in its pool, in Hermes's shape.
	if code, out, errOut := runCLI(t, env, "", "unmigrate", "--yes"); code != 0 {
		t.Fatalf("unmigrate: %d\n%s\n%s", code, out, errOut)
	}
	raw, err := os.ReadFile(filepath.Join(env["HERMES_HOME"], "auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pool map[string][]map[string]any `json:"credential_pool"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if es := doc.Pool["openai-codex"]; len(es) != 1 || es[0]["access_token"] != codexPATCanary2 || es[0]["label"] != "codex-pat" {
		t.Fatalf("auth.json pool after unmigrate: %v", doc.Pool)
	}
}

// TestImportCodexAgentIdentity: an agent-identity login is recognised and
// refused with its reason (exit 5, nothing written, no key printed).
func TestImportCodexAgentIdentity(t *testing.T) {
	env, _, codex := importEnv(t)
	writeCodexAuth(t, codex, map[string]any{"auth_mode": "agentIdentity", "OPENAI_API_KEY": nil,
		"agent_identity": map[string]any{"agent_runtime_id": "rt-1", "agent_private_key": "CANARY-agent-private-key-0123456789",
			"account_id": "acct-1", "chatgpt_user_id": "u-1", "email": "dev@example.invalid", "plan_type": "pro", "chatgpt_account_is_fedramp": false}})
	before := state(t, env, codex)
	code, out, errOut := runCLI(t, env, "", "import", "codex", "--yes")
	if code != xerr.ExitRefused || !strings.Contains(errOut, "agent identity") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("agent identity: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "CANARY") {
		t.Fatal("the refusal printed the private key")
	}
	if state(t, env, codex) != before {
		t.Fatal("a refused import changed files")
	}
}
