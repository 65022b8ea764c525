package codex

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
