package codex

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Values Codex logins carry (codex-rs/login/src/auth/manager.rs and observed
// tokens; see reference/codex-auth.md §4).
const (
	// ClientID is the OAuth client id of the Codex CLI.
	ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"
	// RefreshWindow is how close to expiry Codex refreshes an access token
	// before using it; a login that close to expiry is not imported as is.
	RefreshWindow = 5 * time.Minute

	expectedIssuer   = "https://auth.openai.com"
	expectedAudience = "https://api.openai.com/v1"
	authClaim        = "https://api.openai.com/auth"
	profileClaim     = "https://api.openai.com/profile"
)

// jwtInfo is what validation needs from a decoded, unverified JWT.
type jwtInfo struct {
	alg       string
	exp       time.Time
	hasExp    bool
	sub       string
	iss       string
	aud       []string
	clientID  string
	accountID string
	plan      string
	email     string
}

// jwtParser decodes without verifying; base64url with or without padding
// is accepted, as the reference recommends (Codex accepts no padding only).
// Made per use: a package-level parser would be built at every start.
func jwtParser() *jwt.Parser {
	return jwt.NewParser(jwt.WithPaddingAllowed(), jwt.WithJSONNumber())
}

// decodeJWT parses tok with ParseUnverified. The returned problem (a
// refusal) and warnings name field, never the token or its bytes.
func decodeJWT(field string, tok Secret) (info *jwtInfo, warnings []string, problem string) {
	raw := tok.Reveal()
	if raw == "" {
		return nil, nil, field + " is missing"
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Sprintf("%s is not a JWT (%d dot-separated parts, want 3)", field, len(parts))
	}
	if parts[0] == "" || parts[1] == "" {
		return nil, nil, fmt.Sprintf("%s is not a JWT (empty header or payload)", field)
	}
	claims := jwt.MapClaims{}
	token, _, err := jwtParser().ParseUnverified(raw, claims)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Header and claims decoded; only the alg is unknown or absent.
		// Codex does not look at alg, so neither does the import.
		warnings = append(warnings, fmt.Sprintf("%s has an unknown or missing alg in its header", field))
	default:
		// The library's text names the failing part but never quotes the
		// token; still, give a fixed wording rather than pass it on.
		msg := err.Error()
		part := "payload"
		switch {
		case strings.Contains(msg, "header"):
			part = "header"
		case strings.Contains(msg, "signature"):
			part = "signature"
		}
		return nil, nil, fmt.Sprintf("%s is not a JWT (its %s is not base64url JSON)", field, part)
	}
	info = &jwtInfo{}
	if token != nil {
		info.alg, _ = token.Header["alg"].(string)
	}
	if strings.EqualFold(info.alg, "none") {
		warnings = append(warnings, fmt.Sprintf("%s is unsigned (alg \"none\"); decoded anyway, but a real OpenAI token is always signed", field))
	} else if parts[2] == "" {
		warnings = append(warnings, fmt.Sprintf("%s has an empty signature", field))
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		info.exp, info.hasExp = exp.Time, true
	}
	info.sub, _ = claims.GetSubject()
	info.iss, _ = claims.GetIssuer()
	if aud, err := claims.GetAudience(); err == nil {
		info.aud = aud
	}
	info.clientID, _ = claims["client_id"].(string)
	if auth, ok := claims[authClaim].(map[string]any); ok {
		info.accountID, _ = auth["chatgpt_account_id"].(string)
		info.plan, _ = auth["chatgpt_plan_type"].(string)
	}
	info.email, _ = claims["email"].(string)
	if info.email == "" {
		if prof, ok := claims[profileClaim].(map[string]any); ok {
			info.email, _ = prof["email"].(string)
		}
	}
	return info, warnings, ""
}

// problem is one refusal finding.
type problem struct {
	reason Reason
	text   string
}

// checkResult is the outcome of checkTokens.
type checkResult struct {
	problems  []problem
	warnings  []string
	accountID string // tokens.account_id, or the claims' when it was absent
	id        *jwtInfo
	access    *jwtInfo
	// stale: the access token is expired, expiring or without exp, and
	// was let through only because a take-over will replace it.
	stale bool
}

func (c *checkResult) refuse(r Reason, format string, args ...any) {
	c.problems = append(c.problems, problem{r, fmt.Sprintf(format, args...)})
}

func (c *checkResult) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// severity orders findings so that the reason (and hint) of a refusal is
// the one no take-over or retry can fix.
func severity(r Reason) int {
	switch r {
	case ReasonExpiresSoon:
		return 0
	case ReasonExpired:
		return 1
	case ReasonMissingLastRefresh:
		return 2
	}
	return 3
}

// sorted returns the findings, most severe first, and their texts.
func (c *checkResult) sorted() (Reason, []string) {
	ps := slices.Clone(c.problems)
	slices.SortStableFunc(ps, func(a, b problem) int { return severity(b.reason) - severity(a.reason) })
	texts := make([]string, len(ps))
	for i, p := range ps {
		texts[i] = p.text
	}
	return ps[0].reason, texts
}

// err returns the refusal for the findings, or nil.
func (c *checkResult) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	r, texts := c.sorted()
	return refuse(r, hintFor(r), texts...)
}

// checkOpts tunes checkTokens.
type checkOpts struct {
	now time.Time
	// willRefresh: a take-over follows, so an expired or expiring access
	// token is a warning, not a refusal.
	willRefresh bool
	// idOptional: a refresh response may omit id_token.
	idOptional bool
	// lastRefreshState is lastRefreshAbsent, lastRefreshValid or
	// lastRefreshInvalid.
	lastRefreshState int
	lastRefresh      time.Time
}

// checkTokens validates a ChatGPT token set offline (reference/codex-auth.md
// §4.3). Signatures are not verified.
func checkTokens(t Tokens, o checkOpts) *checkResult {
	c := &checkResult{accountID: t.AccountID}
	if t.RefreshToken.IsZero() {
		c.refuse(ReasonMissingRefreshToken, "tokens.refresh_token is missing, so the login cannot be renewed")
	}
	if t.AccessToken.IsZero() {
		c.refuse(ReasonMissingAccessToken, "tokens.access_token is missing")
	} else {
		info, w, p := decodeJWT("tokens.access_token", t.AccessToken)
		c.warnings = append(c.warnings, w...)
		if p != "" {
			c.refuse(ReasonMalformedToken, "%s", p)
		}
		c.access = info
	}
	if !(t.IDToken.IsZero() && o.idOptional) {
		info, w, p := decodeJWT("tokens.id_token", t.IDToken)
		c.warnings = append(c.warnings, w...)
		if p != "" {
			c.refuse(ReasonMalformedToken, "%s", p)
		}
		c.id = info
	}
	switch o.lastRefreshState {
	case lastRefreshAbsent:
		c.refuse(ReasonMissingLastRefresh, "last_refresh is missing (Codex itself treats such a login as unusable)")
	case lastRefreshInvalid:
		c.refuse(ReasonMissingLastRefresh, "last_refresh is not an RFC 3339 time")
	default:
		if o.lastRefresh.After(o.now.Add(RefreshWindow)) {
			c.warn("last_refresh is in the future (%s); is the clock right?", o.lastRefresh.UTC().Format(time.RFC3339))
		}
	}
	if c.access != nil {
		c.checkExpiry(o)
	}
	c.checkAccount(t)
	c.checkClaims()
	return c
}

func (c *checkResult) checkExpiry(o checkOpts) {
	a := c.access
	var r Reason
	var text string
	switch {
	case !a.hasExp:
		r, text = ReasonExpired, "the access token has no numeric exp claim, so its lifetime cannot be checked"
	case !a.exp.After(o.now):
		r, text = ReasonExpired, fmt.Sprintf("the access token expired at %s", a.exp.UTC().Format(time.RFC3339))
	case !a.exp.After(o.now.Add(RefreshWindow)):
		r, text = ReasonExpiresSoon, fmt.Sprintf("the access token expires at %s, within Codex's %s refresh window", a.exp.UTC().Format(time.RFC3339), RefreshWindow)
	default:
		return
	}
	if o.willRefresh {
		c.stale = true
		c.warn("%s; the take-over refresh replaces it", text)
		return
	}
	c.refuse(r, "%s", text)
}

func (c *checkResult) checkAccount(t Tokens) {
	var claims []string
	for _, tok := range []struct {
		name string
		info *jwtInfo
	}{{"access token", c.access}, {"id token", c.id}} {
		if tok.info == nil {
			continue
		}
		if tok.info.accountID == "" {
			c.refuse(ReasonAccountMismatch, "the %s has no %s chatgpt_account_id claim", tok.name, authClaim)
			continue
		}
		claims = append(claims, tok.info.accountID)
	}
	if len(claims) == 2 && claims[0] != claims[1] {
		c.refuse(ReasonAccountMismatch, "the access token is for account %s but the id token for %s", maskID(claims[0]), maskID(claims[1]))
		return
	}
	if len(claims) == 0 {
		return
	}
	switch {
	case t.AccountID == "":
		c.accountID = claims[0]
		c.warn("tokens.account_id is missing; using the tokens' chatgpt_account_id")
	case t.AccountID != claims[0]:
		c.refuse(ReasonAccountMismatch, "tokens.account_id is %s but the tokens are for account %s", maskID(t.AccountID), maskID(claims[0]))
	}
	if c.access != nil && c.id != nil {
		switch {
		case c.access.sub == "" || c.id.sub == "":
			c.warn("a token has no sub claim; the two tokens' subjects could not be compared")
		case c.access.sub != c.id.sub:
			c.refuse(ReasonSubjectMismatch, "the access token and the id token have different sub claims")
		}
	}
}

// checkClaims adds the warnings-only checks: issuer, audience, client id,
// email.
func (c *checkResult) checkClaims() {
	if a := c.access; a != nil {
		if a.iss != expectedIssuer {
			c.warn("the access token's issuer is not %s", expectedIssuer)
		}
		if !slices.Contains(a.aud, expectedAudience) {
			c.warn("the access token's audience does not include %s", expectedAudience)
		}
		if a.clientID != ClientID {
			c.warn("the access token's client_id is not Codex's (%s)", ClientID)
		}
	}
	if id := c.id; id != nil {
		if id.iss != expectedIssuer {
			c.warn("the id token's issuer is not %s", expectedIssuer)
		}
		if !slices.Contains(id.aud, ClientID) {
			c.warn("the id token's audience does not include Codex's client id")
		}
		if id.email == "" {
			c.warn("the id token carries no email")
		}
	}
}

// maskID shows enough of an account id to recognise it.
func maskID(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0:
		return "(none)"
	case len(r) >= 12:
		return string(r[:4]) + "…" + string(r[len(r)-4:])
	case len(r) >= 6:
		return string(r[:2]) + "…"
	}
	return "…"
}

// patMax bounds a personal access token; Codex's are far shorter.
const patMax = 4096

// checkPAT validates a personal access token as Codex writes it
// (`codex login --with-access-token`): a non-empty "at-" token of printable
// ASCII without spaces. It cannot be checked further offline: it is opaque,
// carries no expiry, and Codex never refreshes it.
func checkPAT(pat Secret) (Secret, []string, error) {
	v := pat.Reveal()
	if v == "" {
		return Secret{}, nil, refuse(ReasonMissingAccessToken, hintCodexLogin, "personal_access_token is empty")
	}
	if len(v) > patMax {
		return Secret{}, nil, refuse(ReasonMalformedToken, hintCodexLogin, fmt.Sprintf("personal_access_token is longer than %d bytes", patMax))
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return Secret{}, nil, refuse(ReasonMalformedToken, hintCodexLogin, "personal_access_token holds a space, a control character or non-ASCII text")
		}
	}
	if !strings.HasPrefix(v, "at-") || len(v) < len("at-")+8 {
		return Secret{}, nil, refuse(ReasonMalformedToken, hintCodexLogin, "personal_access_token does not look like a Codex access token (at-…)")
	}
	return pat, []string{"a personal access token has no expiry Codex or Hermes can read; it works until it is revoked"}, nil
}
