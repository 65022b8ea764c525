package codex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hermes-keys/hermes-keys/internal/lazyre"
)

// Mode is a Codex login's auth mode, resolved as Codex resolves it.
type Mode string

// Auth modes (codex-rs/protocol/src/auth.rs). Only ModeChatGPT is
// importable; ModeUnknown is an auth_mode string Codex does not know.
const (
	ModeChatGPT             Mode = "chatgpt"
	ModeAPIKey              Mode = "apikey"
	ModeChatGPTAuthTokens   Mode = "chatgptAuthTokens"
	ModeHeaders             Mode = "headers"
	ModeAgentIdentity       Mode = "agentIdentity"
	ModePersonalAccessToken Mode = "personalAccessToken"
	ModeBedrockAPIKey       Mode = "bedrockApiKey"
	ModeUnknown             Mode = "unknown"
)

// authDoc is a parsed auth.json (or the same document from the keyring).
type authDoc struct {
	authMode    string // as written; "" when absent
	hasAuthMode bool
	apiKey      Secret // OPENAI_API_KEY; zero when null or absent
	tokens      *tokenDoc
	lastRefresh time.Time
	// lastRefreshState: 0 absent or null, 1 valid, 2 present but not a time.
	lastRefreshState int
	hasAgentIdentity bool
	// agentIdentityRecord: agent_identity is the record form (with a
	// private key), not a JWT string.
	agentIdentityRecord bool
	hasPAT              bool
	// pat is personal_access_token when it is a string.
	pat        Secret
	hasBedrock bool
	bom        bool
}

type tokenDoc struct {
	idToken, accessToken, refreshToken Secret
	accountID                          string
}

const (
	lastRefreshAbsent = iota
	lastRefreshValid
	lastRefreshInvalid
)

// errParse marks a document that is not (yet) a whole JSON object; reading
// auth.json retries on it because Codex rewrites the file in place.
var errParse = errors.New("unparsable")

// parseAuth parses the auth.json document leniently: unknown fields and
// auth_mode values are kept or ignored rather than fatal, and tokens are not
// inspected here (validate does that). Keys are matched exactly, as serde
// does. Errors never contain input bytes.
func parseAuth(data []byte) (*authDoc, error) {
	doc := &authDoc{}
	if b, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		data, doc.bom = b, true
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty", errParse)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", errParse)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: JSON syntax error at byte %d", errParse, se.Offset)
		}
		return nil, errors.New("not a JSON object")
	}
	if top == nil {
		return nil, errors.New("not a JSON object")
	}
	var err error
	if raw, ok := top["auth_mode"]; ok && !isNull(raw) {
		if doc.authMode, err = str(raw, "auth_mode"); err != nil {
			return nil, err
		}
		doc.hasAuthMode = true
	}
	if raw, ok := top["OPENAI_API_KEY"]; ok && !isNull(raw) {
		s, err := str(raw, "OPENAI_API_KEY")
		if err != nil {
			return nil, err
		}
		doc.apiKey = newSecret(s)
	}
	if raw, ok := top["tokens"]; ok && !isNull(raw) {
		var tm map[string]json.RawMessage
		if json.Unmarshal(raw, &tm) != nil || tm == nil {
			return nil, errors.New("tokens is not an object")
		}
		t := &tokenDoc{}
		for _, f := range []struct {
			name string
			dst  *Secret
		}{{"id_token", &t.idToken}, {"access_token", &t.accessToken}, {"refresh_token", &t.refreshToken}} {
			if raw, ok := tm[f.name]; ok && !isNull(raw) {
				s, err := str(raw, "tokens."+f.name)
				if err != nil {
					return nil, err
				}
				*f.dst = newSecret(s)
			}
		}
		if raw, ok := tm["account_id"]; ok && !isNull(raw) {
			if t.accountID, err = str(raw, "tokens.account_id"); err != nil {
				return nil, err
			}
		}
		doc.tokens = t
	}
	if raw, ok := top["last_refresh"]; ok && !isNull(raw) {
		s, err := str(raw, "last_refresh")
		if err != nil {
			return nil, err
		}
		// The time.Parse error quotes its input; it is not passed on.
		if ts, perr := time.Parse(time.RFC3339Nano, s); perr == nil {
			doc.lastRefresh, doc.lastRefreshState = ts, lastRefreshValid
		} else {
			doc.lastRefreshState = lastRefreshInvalid
		}
	}
	doc.hasAgentIdentity = present(top, "agent_identity")
	if doc.hasAgentIdentity {
		doc.agentIdentityRecord = bytes.HasPrefix(bytes.TrimSpace(top["agent_identity"]), []byte("{"))
	}
	doc.hasPAT = present(top, "personal_access_token")
	if doc.hasPAT {
		s, err := str(top["personal_access_token"], "personal_access_token")
		if err != nil {
			return nil, err
		}
		doc.pat = newSecret(s)
	}
	doc.hasBedrock = present(top, "bedrock_api_key")
	return doc, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func present(m map[string]json.RawMessage, k string) bool {
	raw, ok := m[k]
	return ok && !isNull(raw)
}

// str decodes a JSON string; the error names the field, never the value.
func str(raw json.RawMessage, field string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", field)
	}
	return s, nil
}

// resolveMode is AuthDotJson::resolved_mode: an explicit auth_mode wins;
// without one, a PAT, then a Bedrock key, then a non-null OPENAI_API_KEY
// decide, and otherwise it is a ChatGPT login.
func (d *authDoc) resolveMode() Mode {
	if d.hasAuthMode {
		switch m := Mode(d.authMode); m {
		case ModeChatGPT, ModeAPIKey, ModeChatGPTAuthTokens, ModeHeaders,
			ModeAgentIdentity, ModePersonalAccessToken, ModeBedrockAPIKey:
			return m
		}
		return ModeUnknown
	}
	switch {
	case d.hasPAT:
		return ModePersonalAccessToken
	case d.hasBedrock:
		return ModeBedrockAPIKey
	case !d.apiKey.IsZero():
		return ModeAPIKey
	}
	return ModeChatGPT
}

// hasCredential reports whether the document holds anything to log in with;
// a document without is what Codex calls "missing token data", i.e. logged
// out.
func (d *authDoc) hasCredential() bool {
	t := d.tokens
	return !d.apiKey.IsZero() || d.hasPAT || d.hasBedrock || d.hasAgentIdentity ||
		(t != nil && !(t.accessToken.IsZero() && t.refreshToken.IsZero() && t.idToken.IsZero()))
}

// sameCredential reports whether two documents hold the same login.
func (d *authDoc) sameCredential(o *authDoc) bool {
	if (d.tokens == nil) != (o.tokens == nil) || !d.apiKey.Equal(o.apiKey) || !d.pat.Equal(o.pat) {
		return false
	}
	if d.tokens == nil {
		return true
	}
	return d.tokens.refreshToken.Equal(o.tokens.refreshToken) && d.tokens.accessToken.Equal(o.tokens.accessToken)
}

var labelRE = lazyre.New(`^[A-Za-z0-9_.:-]{1,40}$`)

// safeLabel quotes a short identifier-like value read from input (an
// auth_mode, a config value, an error code). Anything longer or odder is not
// echoed: tokens are long, so this keeps them out of messages even when
// they turn up in the wrong field.
func safeLabel(s string) string {
	if labelRE.MatchString(s) {
		return fmt.Sprintf("%q", s)
	}
	return "(value not shown)"
}
