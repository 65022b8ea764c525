package codex

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// HermesProvider is the provider id of the block HermesBlock builds.
const HermesProvider = "openai-codex"

// APIKeyEnv is the .env name an imported API key is stored under.
const APIKeyEnv = "OPENAI_API_KEY"

// HermesPoolSource is the source of the credential_pool.openai-codex entry
// Hermes derives from the provider block and keeps in sync with it.
const HermesPoolSource = "device_code"

// hermesPoolBaseURL is the base_url Hermes gives that entry.
const hermesPoolBaseURL = "https://chatgpt.com/backend-api/codex"

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
// besides: active_provider, and the device_code pool entry (see
// HermesPoolEntry and HermesBlocks), sealed with the block.
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

// HermesPoolEntry returns the credential_pool.openai-codex entry Hermes's
// load_pool derives from the providers.openai-codex block (block, as
// HermesBlock returns it): _seed_from_singletons upserts a "device_code"
// entry carrying the block's access and refresh tokens, last_refresh, the
// Codex base_url and a label (the block's own label, else the access
// token's email claim, else "device_code"), and PooledCredential.to_dict
// writes it in this shape:
//
//	{"id":"a1b2c3","label":…,"auth_type":"oauth","priority":0,"source":"device_code",
//	 "access_token":…,"refresh_token":…,"last_status":null,"last_status_at":null,
//	 "last_error_code":null,"last_error_reason":null,"last_error_message":null,
//	 "last_error_reset_at":null,"base_url":"https://chatgpt.com/backend-api/codex",
//	 "last_refresh":…,"request_count":0}
//
// existing is Hermes's current device_code entry of that pool, or nil. As
// _upsert_entry does, an existing entry keeps its id, priority, a
// non-empty label, request_count and every other member; the tokens,
// base_url and last_refresh are replaced, and when the access token
// changes its last_status and last_error_* fields are cleared (the old
// status belongs to the old token). Without one, the new entry gets id and
// priority (Hermes: six hex digits, and one more than the pool's highest).
func HermesPoolEntry(block, existing json.RawMessage, id string, priority int) (json.RawMessage, error) {
	var blk struct {
		Tokens struct {
			AccessToken  string  `json:"access_token"`
			RefreshToken *string `json:"refresh_token"`
		} `json:"tokens"`
		LastRefresh *string `json:"last_refresh"`
		Label       any     `json:"label"`
	}
	if err := json.Unmarshal(block, &blk); err != nil {
		return nil, fmt.Errorf("the openai-codex block is not an object of the expected shape")
	}
	if blk.Tokens.AccessToken == "" {
		return nil, fmt.Errorf("the openai-codex block has no access token; Hermes derives no pool entry from it")
	}
	label := ""
	if l, ok := blk.Label.(string); ok {
		label = strings.TrimSpace(l)
	}
	if label == "" {
		label = labelFromToken(blk.Tokens.AccessToken, HermesPoolSource)
	}
	str := func(s string) json.RawMessage {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
	}
	null := json.RawMessage("null")
	statusFields := []string{"last_status", "last_status_at", "last_error_code", "last_error_reason", "last_error_message", "last_error_reset_at"}

	var e *hermes.Object
	if len(bytes.TrimSpace(existing)) > 0 {
		var err error
		if e, err = hermes.ParseObject(existing); err != nil {
			return nil, fmt.Errorf("the existing %s entry is not an object: %w", HermesPoolSource, err)
		}
		e = e.Clone()
		oldAccess, _ := rawString(e, "access_token")
		if oldAccess != blk.Tokens.AccessToken {
			if v, ok := e.Get("last_status"); ok && string(bytes.TrimSpace(v)) != "null" {
				for _, k := range statusFields {
					e.Set(k, null)
				}
			}
		}
		e.Set("source", str(HermesPoolSource))
		e.Set("auth_type", str("oauth"))
		e.Set("access_token", str(blk.Tokens.AccessToken))
		if blk.Tokens.RefreshToken != nil {
			e.Set("refresh_token", str(*blk.Tokens.RefreshToken))
		}
		e.Set("base_url", str(hermesPoolBaseURL))
		if blk.LastRefresh != nil {
			e.Set("last_refresh", str(*blk.LastRefresh))
		}
		if l, _ := rawString(e, "label"); l == "" {
			e.Set("label", str(label))
		}
	} else {
		if id == "" {
			return nil, fmt.Errorf("a new %s entry needs an id", HermesPoolSource)
		}
		e = &hermes.Object{}
		e.Set("id", str(id))
		e.Set("label", str(label))
		e.Set("auth_type", str("oauth"))
		e.Set("priority", json.RawMessage(fmt.Sprint(priority)))
		e.Set("source", str(HermesPoolSource))
		e.Set("access_token", str(blk.Tokens.AccessToken))
		if blk.Tokens.RefreshToken != nil {
			e.Set("refresh_token", str(*blk.Tokens.RefreshToken))
		}
		for _, k := range statusFields {
			e.Set(k, null)
		}
		e.Set("base_url", str(hermesPoolBaseURL))
		if blk.LastRefresh != nil {
			e.Set("last_refresh", str(*blk.LastRefresh))
		}
		e.Set("request_count", json.RawMessage("0"))
	}
	return e.MarshalJSON()
}

// rawString returns the member key of o when it is a JSON string.
func rawString(o *hermes.Object, key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// labelFromToken is Hermes's label_from_token: the JWT payload's email,
// preferred_username or upn claim, else fallback. The payload is decoded
// without verification, as Hermes does; a label is metadata, not a secret.
func labelFromToken(token, fallback string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fallback
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return fallback
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return fallback
	}
	for _, k := range []string{"email", "preferred_username", "upn"} {
		if v, ok := claims[k].(string); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return fallback
}

// HermesBlocks returns the vault blocks of an import: the openai-codex
// provider block and the pool entry Hermes derives from it, placed and
// grouped exactly as a migration seals them from auth.json (the same
// keys, kinds, group "openai-codex", secret fields and expiry), so they
// are sealed in one vault write and materialised together or not at all.
// providerIndex and entryIndex are the positions they go back to in
// providers and in credential_pool.openai-codex; a position past the end
// appends.
func HermesBlocks(block, entry json.RawMessage, providerIndex, entryIndex int) ([]hermes.Block, error) {
	providers := &hermes.Object{}
	providers.Set(HermesProvider, block)
	pool := &hermes.Object{}
	pool.Set(HermesProvider, json.RawMessage("["+string(entry)+"]"))
	pj, err := providers.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("the openai-codex block: %w", err)
	}
	qj, err := pool.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("the openai-codex pool entry: %w", err)
	}
	doc := &hermes.Object{}
	doc.Set("providers", pj)
	doc.Set("credential_pool", qj)
	_, blocks, err := hermes.Split(doc, hermes.Marker{})
	if err != nil {
		return nil, err
	}
	if len(blocks) != 2 || blocks[0].Kind != hermes.KindProvider || blocks[1].Kind != hermes.KindPoolEntry ||
		blocks[0].Group != HermesProvider || blocks[1].Group != HermesProvider {
		return nil, fmt.Errorf("the openai-codex block and its %s entry did not split into one group", HermesPoolSource)
	}
	blocks[0].Index, blocks[1].Index = providerIndex, entryIndex
	return blocks, nil
}

// CanStoreAPIKey applies the overwrite policy to env:OPENAI_API_KEY:
// when Hermes already has that key (sealed, or in its .env) the import
// refuses unless replace is set.
func CanStoreAPIKey(exists, replace bool) error {
	if !exists || replace {
		return nil
	}
	return refuse(ReasonHermesHasLogin, "keep Hermes's key, or rerun with --replace to overwrite it with the Codex login's key",
		"Hermes already has "+APIKeyEnv)
}

// PAT pool entries: what `hermes auth add openai-codex --type api-key`
// writes (a manual entry whose access token is sent as the bearer to the
// Codex endpoint), with a source and label that say where it came from.
const (
	HermesPATSource = "manual:codex_pat"
	HermesPATLabel  = "codex-pat"
)

// HermesPATEntry returns the credential_pool.openai-codex entry for a
// personal access token login, in PooledCredential.to_dict's shape and key
// order:
//
//	{"id":"a1b2c3","label":"codex-pat","auth_type":"api_key","priority":0,
//	 "source":"manual:codex_pat","access_token":"at-…","last_status":null,…,
//	 "base_url":"https://chatgpt.com/backend-api/codex","request_count":0}
//
// Hermes uses such an entry when it has no openai-codex provider block of
// its own, and never refreshes it (a PAT does not rotate).
func HermesPATEntry(login *Login, id string, priority int) (json.RawMessage, error) {
	if login == nil || login.Mode != ModePersonalAccessToken || login.PAT.IsZero() {
		return nil, refuse(ReasonNotChatGPT, "", "only a personal access token login becomes a codex-pat pool entry")
	}
	if id == "" {
		return nil, fmt.Errorf("a new %s entry needs an id", HermesPATSource)
	}
	str := func(s string) json.RawMessage {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
	}
	null := json.RawMessage("null")
	e := &hermes.Object{}
	e.Set("id", str(id))
	e.Set("label", str(HermesPATLabel))
	e.Set("auth_type", str("api_key"))
	e.Set("priority", json.RawMessage(fmt.Sprint(priority)))
	e.Set("source", str(HermesPATSource))
	e.Set("access_token", str(login.PAT.Reveal()))
	for _, k := range []string{"last_status", "last_status_at", "last_error_code", "last_error_reason", "last_error_message", "last_error_reset_at"} {
		e.Set(k, null)
	}
	e.Set("base_url", str(hermesPoolBaseURL))
	e.Set("request_count", json.RawMessage("0"))
	return e.MarshalJSON()
}

// HermesPATBlock returns the vault block of a PAT pool entry, placed and
// grouped as a migration seals it from auth.json; index is its position in
// credential_pool.openai-codex (past the end appends).
func HermesPATBlock(entry json.RawMessage, index int) (hermes.Block, error) {
	pool := &hermes.Object{}
	pool.Set(HermesProvider, json.RawMessage("["+string(entry)+"]"))
	qj, err := pool.MarshalJSON()
	if err != nil {
		return hermes.Block{}, fmt.Errorf("the codex-pat pool entry: %w", err)
	}
	doc := &hermes.Object{}
	doc.Set("credential_pool", qj)
	_, blocks, err := hermes.Split(doc, hermes.Marker{})
	if err != nil {
		return hermes.Block{}, err
	}
	if len(blocks) != 1 || blocks[0].Kind != hermes.KindPoolEntry {
		return hermes.Block{}, fmt.Errorf("the codex-pat pool entry did not split into one sealed entry")
	}
	blocks[0].Index = index
	return blocks[0], nil
}
