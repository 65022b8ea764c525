package codex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// DefaultTokenURL is Codex's token endpoint (REFRESH_TOKEN_URL).
const DefaultTokenURL = "https://auth.openai.com/oauth/token"

// defaultRefreshTimeout bounds a refresh when the caller passes no client;
// Hermes gives its own Codex refresh 20 seconds.
const defaultRefreshTimeout = 20 * time.Second

// maxResponseSize caps what is read from the token endpoint.
const maxResponseSize = 1 << 20

const (
	hintTransient = "nothing was stored and Hermes's login is untouched; try again later (network, rate limit or server trouble)"
	hintRelogin   = "Codex's login can no longer be refreshed: sign in again with `codex login`, then rerun `hermes-keys import codex`; " + hintOwnLogin
	hintSpent     = "the refresh may have spent Codex's refresh token: run `codex login`, then rerun `hermes-keys import codex`; " + hintOwnLogin
)

// Refresh exchanges refreshToken once at the token endpoint (tokenURL, or
// DefaultTokenURL when empty) the way Codex does: a JSON POST of client_id,
// grant_type=refresh_token and refresh_token. The response's id_token,
// access_token and refresh_token are each optional; a missing refresh_token
// means the old one stays valid and is returned, a missing id_token is
// returned empty. AccountID is the access token's chatgpt_account_id.
//
// The returned tokens are validated like an imported login (now is the
// clock; nil means time.Now). Failures are classified as Codex classifies
// them: ErrReloginRequired for HTTP 401 or the codes refresh_token_expired,
// refresh_token_reused and refresh_token_invalidated; ErrTransient for
// network errors, timeouts and every other status or malformed response.
// Errors carry the status and the error code, never a token or the body.
//
// A successful refresh rotates the grant: whoever held refreshToken before
// (Codex) can no longer use it.
func Refresh(ctx context.Context, client *http.Client, tokenURL, refreshToken string, now func() time.Time) (Tokens, error) {
	if now == nil {
		now = time.Now
	}
	if client == nil {
		client = &http.Client{Timeout: defaultRefreshTimeout}
	}
	// Never follow a redirect: a 307 would re-send the refresh token to
	// wherever it points. A 3xx is answered as a failure instead.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client = &c
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	if err := checkTokenURL(tokenURL); err != nil {
		return Tokens{}, err
	}
	if refreshToken == "" {
		return Tokens{}, refuse(ReasonMissingRefreshToken, hintFor(ReasonMissingRefreshToken), "there is no refresh token to refresh with")
	}
	body, err := json.Marshal(struct {
		ClientID     string `json:"client_id"`
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
	}{ClientID, "refresh_token", refreshToken})
	if err != nil {
		return Tokens{}, fmt.Errorf("encode the refresh request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, bytes.NewReader(body))
	if err != nil {
		return Tokens{}, fmt.Errorf("token endpoint %q: %w", tokenURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hermes-keys")

	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the URL and the cause; the token is in the
		// body, which it never quotes.
		return Tokens{}, transient(fmt.Sprintf("token endpoint unreachable: %v", err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return Tokens{}, transient(fmt.Sprintf("reading the token endpoint's answer (HTTP %d) failed: %v", resp.StatusCode, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Tokens{}, classifyFailure(resp.StatusCode, data)
	}
	if len(data) > maxResponseSize {
		return Tokens{}, transient("the token endpoint's answer is larger than 1 MiB")
	}
	var out struct {
		IDToken      *string `json:"id_token"`
		AccessToken  *string `json:"access_token"`
		RefreshToken *string `json:"refresh_token"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		// The decoder's message can quote part of the body.
		return Tokens{}, transient(fmt.Sprintf("the token endpoint answered HTTP %d with malformed JSON", resp.StatusCode))
	}
	if out.AccessToken == nil || *out.AccessToken == "" {
		return Tokens{}, transient(fmt.Sprintf("the token endpoint answered HTTP %d without an access_token", resp.StatusCode))
	}
	t := Tokens{AccessToken: newSecret(*out.AccessToken), RefreshToken: newSecret(refreshToken)}
	if out.IDToken != nil {
		t.IDToken = newSecret(*out.IDToken)
	}
	if out.RefreshToken != nil && *out.RefreshToken != "" {
		t.RefreshToken = newSecret(*out.RefreshToken)
	}
	if info, _, p := decodeJWT("access_token", t.AccessToken); p == "" {
		t.AccountID = info.accountID
	}
	ts := now()
	res := checkTokens(t, checkOpts{now: ts, idOptional: true, lastRefreshState: lastRefreshValid, lastRefresh: ts})
	if err := refreshedErr(res); err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// refreshedErr turns findings about refreshed tokens into an error: a
// token that is not a JWT is a malformed response (transient), anything
// else a refusal. Either way the old refresh token may be spent.
func refreshedErr(res *checkResult) error {
	if len(res.problems) == 0 {
		return nil
	}
	first, texts := res.sorted()
	if first == ReasonMalformedToken || first == ReasonMissingAccessToken {
		return xerr.WithHint(fmt.Errorf("%w: malformed response: %s", ErrTransient, strings.Join(texts, "; ")), hintSpent)
	}
	return xerr.WithCode(xerr.WithHint(&RefusalError{Reason: first, Problems: texts}, hintSpent), xerr.ExitRefused)
}

// ErrInsecureTokenURL means a token endpoint that is not https: the refresh
// token would cross the network in the clear.
var ErrInsecureTokenURL = errors.New("token endpoint is not https")

// checkTokenURL refuses every token endpoint but an https one. Only a
// build with the testhooks tag also lets plain http reach a loopback
// address (the tests' local token servers).
func checkTokenURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("token endpoint %q is not a URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	if allowLoopbackHTTP && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return xerr.WithHint(fmt.Errorf("%w (%s://%s); the refresh token was not sent", ErrInsecureTokenURL, u.Scheme, u.Host),
		"use an https token endpoint")
}

func transient(msg string) error {
	return xerr.WithHint(fmt.Errorf("%w: %s", ErrTransient, msg), hintTransient)
}

// classifyFailure is classify_refresh_token_failure: the error code comes
// from error.code, else error (a string), else code; permanent when the
// status is 401 or the code is one of the three refresh-token codes.
func classifyFailure(status int, body []byte) error {
	code := errorCode(body)
	shown := ""
	if code != "" {
		shown = " " + safeLabel(code)
	}
	var why string
	switch code {
	case "refresh_token_expired":
		why = "the refresh token has expired"
	case "refresh_token_reused":
		why = "the refresh token was already used (Codex or another client refreshed it)"
	case "refresh_token_invalidated":
		why = "the refresh token was revoked"
	}
	if status == http.StatusUnauthorized || why != "" {
		if why == "" {
			why = "the refresh token was rejected"
		}
		err := fmt.Errorf("%w: %s (HTTP %d%s)", ErrReloginRequired, why, status, shown)
		return xerr.WithCode(xerr.WithHint(err, hintRelogin), xerr.ExitRefused)
	}
	kind := "error"
	switch {
	case status == http.StatusTooManyRequests:
		kind = "rate limited"
	case status >= 500:
		kind = "server error"
	}
	return transient(fmt.Sprintf("token endpoint answered HTTP %d (%s)%s", status, kind, shown))
}

// errorCode extracts the lower-cased OAuth/OpenAI error code of a failure
// body, or "".
func errorCode(body []byte) string {
	var v struct {
		Error json.RawMessage `json:"error"`
		Code  any             `json:"code"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	var obj struct {
		Code any `json:"code"`
	}
	var s string
	switch {
	case json.Unmarshal(v.Error, &obj) == nil && obj.Code != nil:
		s, _ = obj.Code.(string)
	case json.Unmarshal(v.Error, &s) == nil:
	default:
		s, _ = v.Code.(string)
	}
	return strings.ToLower(s)
}

// TakeOver refreshes the login once (see Refresh) so that Hermes holds a
// pair Codex no longer shares, validates the result against the login it
// came from (same account), and returns the refreshed login. Afterwards
// Codex must log in again. The receiver is not changed.
func (l *Login) TakeOver(ctx context.Context, client *http.Client, tokenURL string, now func() time.Time) (*Login, error) {
	if now == nil {
		now = time.Now
	}
	if l == nil || l.Mode != ModeChatGPT {
		return nil, refuse(ReasonNotChatGPT, hintFor(ReasonNotChatGPT), "only a ChatGPT login can be taken over")
	}
	fresh, err := Refresh(ctx, client, tokenURL, l.Tokens.RefreshToken.Reveal(), now)
	if err != nil {
		return nil, err
	}
	if fresh.IDToken.IsZero() {
		fresh.IDToken = l.Tokens.IDToken
	}
	// Validate against the account Codex had: a refresh that lands in
	// another account is what Codex calls "signed in to another account".
	fresh.AccountID = l.Tokens.AccountID
	ts := now()
	res := checkTokens(fresh, checkOpts{now: ts, lastRefreshState: lastRefreshValid, lastRefresh: ts})
	if err := refreshedErr(res); err != nil {
		return nil, err
	}
	sum := l.Summary
	sum.Warnings = append(append([]string(nil), l.sourceWarnings...), res.warnings...)
	sum.CheckedAt, sum.LastRefresh, sum.TakenOver = ts, ts, true
	sum.Email, sum.Plan = "", ""
	fill(&sum, res)
	return &Login{Mode: ModeChatGPT, Tokens: fresh, APIKey: l.APIKey, LastRefresh: ts, Summary: sum,
		checkedAt: ts, sourceWarnings: l.sourceWarnings}, nil
}
