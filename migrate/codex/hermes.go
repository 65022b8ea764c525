package codex

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// HermesProvider is the provider id of the block HermesBlock builds.
const HermesProvider = "openai-codex"

// APIKeyEnv is the .env name an imported API key is stored under.
const APIKeyEnv = "OPENAI_API_KEY"

// hermesLastRefreshLayout is Python's isoformat() of a UTC datetime with
// "+00:00" replaced by "Z", as Hermes writes it.
const hermesLastRefreshLayout = "2006-01-02T15:04:05.000000Z"

// The block exactly as Hermes's own import (_import_codex_cli_tokens +
// _save_codex_tokens) writes providers.openai-codex: the tokens dict copied
// from Codex in Codex's key order, then last_refresh and auth_mode.
type hermesTokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	AccountID    string `json:"account_id"`
}

type hermesBlock struct {
	Tokens      hermesTokens `json:"tokens"`
	LastRefresh string       `json:"last_refresh"`
	AuthMode    string       `json:"auth_mode"`
}

// HermesBlock returns the providers.openai-codex block for login in the
// shape Hermes's own import writes:
//
//	{"tokens":{"id_token":…,"access_token":…,"refresh_token":…,"account_id":…},
//	 "last_refresh":"2026-07-20T09:40:03.118204Z","auth_mode":"chatgpt"}
//
// last_refresh is the moment the login was validated (or refreshed), as
// Hermes sets it to "now" on import. The caller adds what Hermes does
// besides (active_provider, the device_code pool entry).
func HermesBlock(login *Login) (json.RawMessage, error) {
	if login == nil || login.Mode != ModeChatGPT {
		return nil, refuse(ReasonNotChatGPT, hintFor(ReasonNotChatGPT), "only a ChatGPT login becomes an openai-codex block")
	}
	if login.stale {
		return nil, refuse(ReasonNotTakenOver, hintFor(ReasonNotTakenOver),
			"the access token is expired or expiring and was accepted only for a take-over, which has not happened")
	}
	t := login.Tokens
	if t.IDToken.IsZero() || t.AccessToken.IsZero() || t.RefreshToken.IsZero() || t.AccountID == "" {
		return nil, refuse(ReasonMissingAccessToken, hintFor(ReasonMissingAccessToken), "the login lacks a token or the account id")
	}
	blk := hermesBlock{
		Tokens: hermesTokens{
			IDToken:      t.IDToken.Reveal(),
			AccessToken:  t.AccessToken.Reveal(),
			RefreshToken: t.RefreshToken.Reveal(),
			AccountID:    t.AccountID,
		},
		LastRefresh: login.checkedAt.UTC().Format(hermesLastRefreshLayout),
		AuthMode:    string(ModeChatGPT),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blk); err != nil {
		return nil, fmt.Errorf("encode the openai-codex block: %w", err)
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

// APIKeyValue returns the API key of login as the JSON string value of the
// env:OPENAI_API_KEY record.
func APIKeyValue(login *Login) (json.RawMessage, error) {
	if login == nil || login.APIKey.IsZero() {
		return nil, refuse(ReasonNotChatGPT, "", "the codex login holds no OPENAI_API_KEY")
	}
	b, err := json.Marshal(login.APIKey.Reveal())
	if err != nil {
		return nil, fmt.Errorf("encode the API key: %w", err)
	}
	return b, nil
}

// CanReplace applies the overwrite policy to Hermes's current
// providers.openai-codex block (nil or JSON null when there is none). It
// allows the import when Hermes has no usable login there (no block, not an
// object, or tokens without an access or refresh token: Hermes's own
// self-heal treats those as missing), when the block is marked
// last_auth_error.relogin_required, or when replace is set. Otherwise it
// refuses: a working Hermes login, or one that failed only transiently, is
// never replaced behind the user's back.
func CanReplace(existing json.RawMessage, replace bool) error {
	if replace {
		return nil
	}
	trimmed := bytes.TrimSpace(existing)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	var blk struct {
		Tokens *struct {
			AccessToken  any `json:"access_token"`
			RefreshToken any `json:"refresh_token"`
		} `json:"tokens"`
		LastAuthError *struct {
			ReloginRequired any `json:"relogin_required"`
			Code            any `json:"code"`
		} `json:"last_auth_error"`
	}
	if err := json.Unmarshal(trimmed, &blk); err != nil {
		// Not an object Hermes can use: its self-heal would replace it too.
		return nil
	}
	if e := blk.LastAuthError; e != nil && e.ReloginRequired == true {
		return nil
	}
	if blk.Tokens == nil || !nonEmptyString(blk.Tokens.AccessToken) || !nonEmptyString(blk.Tokens.RefreshToken) {
		return nil
	}
	text := "Hermes already has its own openai-codex login"
	if e := blk.LastAuthError; e != nil {
		text += " (its last error was not one that requires a new login"
		if code, ok := e.Code.(string); ok && code != "" {
			text += ": " + safeLabel(code)
		}
		text += ")"
	}
	return refuse(ReasonHermesHasLogin, hintFor(ReasonHermesHasLogin), text)
}

func nonEmptyString(v any) bool {
	s, ok := v.(string)
	return ok && s != ""
}
