package codex

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func TestCanReplace(t *testing.T) {
	working := `{"tokens":{"access_token":"a","refresh_token":"r"},"last_refresh":"2026-07-20T09:40:03.118204Z","auth_mode":"chatgpt"}`
	for _, c := range []struct {
		name     string
		existing string
		replace  bool
		refused  bool
	}{
		{"no block", "", false, false},
		{"null block", "null", false, false},
		{"not an object", `"x"`, false, false},
		{"tokens stripped after a terminal failure", `{"tokens":{},"last_auth_error":{"code":"refresh_token_reused","relogin_required":true}}`, false, false},
		{"missing refresh token", `{"tokens":{"access_token":"a"},"auth_mode":"chatgpt"}`, false, false},
		{"missing access token", `{"tokens":{"refresh_token":"r"}}`, false, false},
		{"no tokens at all", `{"auth_mode":"chatgpt","label":"me"}`, false, false},
		{"relogin required with tokens still there", `{"tokens":{"access_token":"a","refresh_token":"r"},"last_auth_error":{"provider":"openai-codex","code":"invalid_grant","relogin_required":true}}`, false, false},
		{"working login", working, false, true},
		{"working login, replace", working, true, false},
		{"transient failure only", `{"tokens":{"access_token":"a","refresh_token":"r"},"last_auth_error":{"code":"codex_rate_limited","relogin_required":false}}`, false, true},
		{"relogin_required not a bool", `{"tokens":{"access_token":"a","refresh_token":"r"},"last_auth_error":{"relogin_required":"yes"}}`, false, true},
		{"transient failure, replace", `{"tokens":{"access_token":"a","refresh_token":"r"},"last_auth_error":{"relogin_required":false}}`, true, false},
	} {
		err := CanReplace(json.RawMessage(c.existing), c.replace)
		if (err != nil) != c.refused {
			t.Errorf("%s: err = %v, refused want %v", c.name, err, c.refused)
			continue
		}
		if err != nil && (!errors.Is(err, ErrRefused) || reasonOf(err) != ReasonHermesHasLogin || xerr.Code(err) != xerr.ExitRefused || xerr.Hint(err) == "") {
			t.Errorf("%s: refusal %v (hint %q)", c.name, err, xerr.Hint(err))
		}
	}
	err := CanReplace(json.RawMessage(`{"tokens":{"access_token":"a","refresh_token":"r"},"last_auth_error":{"code":"codex_rate_limited"}}`), false)
	if err == nil || !strings.Contains(err.Error(), `"codex_rate_limited"`) {
		t.Errorf("the transient code is not named: %v", err)
	}
}

func TestHermesBlockRefusesWhatIsNotAValidatedChatGPTLogin(t *testing.T) {
	for _, l := range []*Login{nil, {Mode: ModeAPIKey, APIKey: newSecret(apiKeyCanary)}, {Mode: ModeChatGPT}} {
		b, err := HermesBlock(l)
		if !errors.Is(err, ErrRefused) || b != nil {
			t.Errorf("HermesBlock(%v) = %s, %v", l, b, err)
		}
		assertNoSecret(t, "error", errorText(err), apiKeyCanary)
	}
	if _, err := APIKeyValue(&Login{Mode: ModeChatGPT}); !errors.Is(err, ErrRefused) {
		t.Errorf("APIKeyValue without a key: %v", err)
	}
}

// codexBlock is a providers.openai-codex block as HermesBlock writes it.
func codexBlock(t *testing.T, access, refresh string, extra string) json.RawMessage {
	t.Helper()
	b := `{"tokens":{"id_token":"` + mint(t, idClaims()) + `","access_token":"` + access + `","refresh_token":"` + refresh +
		`","account_id":"` + testAccount + `"},"last_refresh":"2026-11-20T12:00:00.000000Z","auth_mode":"chatgpt"` + extra + `}`
	if !json.Valid([]byte(b)) {
		t.Fatal("test block is not JSON")
	}
	return json.RawMessage(b)
}

func TestHermesPoolEntryNew(t *testing.T) {
	access := mint(t, accessClaims())
	got, err := HermesPoolEntry(codexBlock(t, access, refreshCanary, ""), nil, "a1b2c3", 2)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what PooledCredential.to_dict writes for the entry
	// _seed_from_singletons derives: field order included. The access
	// token's email is under the profile claim, which label_from_token
	// does not read, so the label is the source.
	want := `{"id":"a1b2c3","label":"device_code","auth_type":"oauth","priority":2,"source":"device_code",` +
		`"access_token":"` + access + `","refresh_token":"` + refreshCanary + `",` +
		`"last_status":null,"last_status_at":null,"last_error_code":null,"last_error_reason":null,` +
		`"last_error_message":null,"last_error_reset_at":null,"base_url":"https://chatgpt.com/backend-api/codex",` +
		`"last_refresh":"2026-11-20T12:00:00.000000Z","request_count":0}`
	if string(got) != want {
		t.Fatalf("entry:\n got %s\nwant %s", got, want)
	}

	// label_from_token: a top-level email claim becomes the label; the
	// block's own label wins over it.
	withEmail := mint(t, accessClaims(withClaim("email", "bob@example.com")))
	got, _ = HermesPoolEntry(codexBlock(t, withEmail, refreshCanary, ""), nil, "a1b2c3", 0)
	if !strings.Contains(string(got), `"label":"bob@example.com"`) {
		t.Errorf("email label: %s", got)
	}
	got, _ = HermesPoolEntry(codexBlock(t, withEmail, refreshCanary, `,"label":"work"`), nil, "a1b2c3", 0)
	if !strings.Contains(string(got), `"label":"work"`) {
		t.Errorf("block label: %s", got)
	}
}

func TestHermesPoolEntryUpsertsExisting(t *testing.T) {
	access := mint(t, accessClaims())
	existing := `{"id":"77aa88","label":"me","auth_type":"oauth","priority":3,"source":"device_code",` +
		`"access_token":"OLD-access","refresh_token":"OLD-refresh","last_status":"dead","last_status_at":1784548800.5,` +
		`"last_error_code":401,"last_error_reason":"refresh_token_reused","last_error_message":"x","last_error_reset_at":null,` +
		`"base_url":"https://chatgpt.com/backend-api/codex","last_refresh":"2026-07-20T09:40:03.118204Z","request_count":17,"custom":{"k":1}}`
	got, err := HermesPoolEntry(codexBlock(t, access, refreshCanary, ""), json.RawMessage(existing), "ffffff", 9)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"id": "77aa88", "label": "me", "priority": 3.0, "request_count": 17.0, // kept
		"access_token": access, "refresh_token": refreshCanary, "last_refresh": "2026-11-20T12:00:00.000000Z", // replaced
		"last_status": nil, "last_status_at": nil, "last_error_code": nil, "last_error_reason": nil, "last_error_message": nil, // cleared
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if c, ok := m["custom"].(map[string]any); !ok || c["k"] != 1.0 {
		t.Errorf("unknown member lost: %v", m["custom"])
	}
	if strings.Contains(string(got), "OLD-") {
		t.Errorf("old tokens kept: %s", got)
	}

	// The same access token: the status belongs to it and stays.
	same := strings.Replace(existing, "OLD-access", access, 1)
	got, _ = HermesPoolEntry(codexBlock(t, access, refreshCanary, ""), json.RawMessage(same), "", 0)
	if !strings.Contains(string(got), `"last_status":"dead"`) {
		t.Errorf("status of an unchanged token cleared: %s", got)
	}
	// An existing entry without a label gets one.
	nolabel := strings.Replace(existing, `"label":"me"`, `"label":""`, 1)
	got, _ = HermesPoolEntry(codexBlock(t, access, refreshCanary, ""), json.RawMessage(nolabel), "", 0)
	if !strings.Contains(string(got), `"label":"device_code"`) {
		t.Errorf("empty label not filled: %s", got)
	}
}

func TestHermesPoolEntryRefusals(t *testing.T) {
	for _, c := range []struct{ name, block, existing, id string }{
		{"not json", `{"tokens":`, "", "a1b2c3"},
		{"no access token", `{"tokens":{"refresh_token":"` + refreshCanary + `"}}`, "", "a1b2c3"},
		{"no id for a new entry", `{"tokens":{"access_token":"x.y.z","refresh_token":"` + refreshCanary + `"}}`, "", ""},
		{"existing not an object", `{"tokens":{"access_token":"x.y.z","refresh_token":"` + refreshCanary + `"}}`, `["` + refreshCanary + `"]`, "a1b2c3"},
	} {
		got, err := HermesPoolEntry(json.RawMessage(c.block), json.RawMessage(c.existing), c.id, 0)
		if err == nil {
			t.Errorf("%s: got %s, want an error", c.name, got)
			continue
		}
		assertNoSecret(t, c.name, err.Error(), refreshCanary)
	}
}

// TestHermesBlocksMaterialiseTogether: the block and its pool entry are
// placed and grouped as a migration seals them, so Merge puts both back
// into a store that has neither, and neither into one that already holds
// a member of the group (the file is the truth).
func TestHermesBlocksMaterialiseTogether(t *testing.T) {
	access := mint(t, accessClaims())
	block := codexBlock(t, access, refreshCanary, "")
	entry, err := HermesPoolEntry(block, nil, "a1b2c3", 1)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := HermesBlocks(block, entry, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 {
		t.Fatalf("%d blocks", len(blocks))
	}
	p, e := blocks[0], blocks[1]
	if p.Key != "providers/openai-codex" || p.Kind != hermes.KindProvider || p.Name != HermesProvider || p.Group != HermesProvider || p.Index != 1 {
		t.Errorf("provider block: %+v", p.String())
	}
	if e.Key != "pool/openai-codex/a1b2c3" || e.Kind != hermes.KindPoolEntry || e.Name != HermesProvider || e.ID != "a1b2c3" ||
		e.Source != HermesPoolSource || e.Group != HermesProvider || e.Index != 1 {
		t.Errorf("pool block: %s %s %s %s %d", e.Key, e.Kind, e.ID, e.Group, e.Index)
	}
	if string(p.Value) != string(block) || string(e.Value) != string(entry) {
		t.Error("block values changed")
	}
	wantExp := time.Unix(accessClaims()["exp"].(int64), 0)
	if !e.Expires.Equal(wantExp) || !p.Expires.Equal(wantExp) || len(p.Secrets) == 0 || len(e.Secrets) == 0 {
		t.Errorf("expiry/secrets metadata: %v %v %d %d", p.Expires, e.Expires, len(p.Secrets), len(e.Secrets))
	}

	skeleton := `{"version":1,"providers":{"nous":{"x":1}},"active_provider":"openai-codex",` +
		`"credential_pool":{"openai-codex":[{"id":"m1","source":"manual:device_code","label":"other"}]}}`
	doc, err := hermes.ParseDoc([]byte(skeleton))
	if err != nil {
		t.Fatal(err)
	}
	out, rep, err := hermes.Merge(doc, blocks)
	if err != nil || len(rep.Restored) != 2 {
		t.Fatalf("merge: %v %+v", err, rep)
	}
	raw, _ := out.MarshalJSON()
	var got struct {
		Providers map[string]json.RawMessage          `json:"providers"`
		Pool      map[string][]map[string]interface{} `json:"credential_pool"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Providers[HermesProvider]) != string(block) {
		t.Error("provider block not materialised")
	}
	if pool := got.Pool[HermesProvider]; len(pool) != 2 || pool[0]["id"] != "m1" || pool[1]["id"] != "a1b2c3" || pool[1]["refresh_token"] != refreshCanary {
		t.Errorf("pool after merge: %v", pool)
	}

	// A store that already has the group's pool entry keeps it and gets
	// neither block: never half of the pair.
	withEntry := `{"credential_pool":{"openai-codex":[{"id":"zz","source":"device_code","access_token":"newer"}]}}`
	doc, _ = hermes.ParseDoc([]byte(withEntry))
	if _, rep, err := hermes.Merge(doc, blocks); err != nil || len(rep.Restored) != 0 || len(rep.Kept) != 2 {
		t.Errorf("merge into a store with the group: %v %+v", err, rep)
	}
}
