package codex

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// tokenServer is an httptest token endpoint answering with respond and
// recording what it was sent.
type tokenServer struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []string
	headers []http.Header
}

func newTokenServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.bodies = append(ts.bodies, string(b))
		ts.headers = append(ts.headers, r.Header.Clone())
		ts.mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		respond(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// requests returns what the server has been sent so far.
func (ts *tokenServer) requests() ([]string, []http.Header) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.bodies...), append([]http.Header(nil), ts.headers...)
}

func answer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const (
	newRefresh  = "rt_CANARY_rotated_0123456789abcdefghijklmnopqrstuvwxyz_ABCDEF"
	bodyCanary  = "CANARY_in_body_0123456789abcdefghijklmnopqrstuvwxyz"
	oldRefresh  = refreshCanary
	refreshedAt = 3 * time.Hour
)

func refreshedNow() time.Time { return testNow.Add(refreshedAt) }

func TestRefresh(t *testing.T) {
	newAccess := mint(t, accessClaims(withExp(refreshedNow().Add(10*24*time.Hour)), withClaim("jti", "new")))
	newID := mint(t, idClaims(withClaim("jti", "new")))
	secrets := []string{oldRefresh, newRefresh, newAccess, newID, bodyCanary}
	ok := func(fields map[string]any) string {
		b, _ := json.Marshal(fields)
		return string(b)
	}

	cases := []struct {
		name    string
		respond func(http.ResponseWriter, *http.Request)
		timeout time.Duration
		// want: nil for success, else the sentinel.
		want   error
		reason Reason
		in     []string // must appear in the error text
		check  func(t *testing.T, got Tokens)
	}{
		{
			name:    "success with rotation",
			respond: answer(200, ok(map[string]any{"id_token": newID, "access_token": newAccess, "refresh_token": newRefresh})),
			check: func(t *testing.T, got Tokens) {
				if got.AccessToken.Reveal() != newAccess || got.IDToken.Reveal() != newID || got.RefreshToken.Reveal() != newRefresh || got.AccountID != testAccount {
					t.Error("rotated tokens not returned")
				}
			},
		},
		{
			name:    "success without rotation keeps the old refresh token",
			respond: answer(200, ok(map[string]any{"access_token": newAccess})),
			check: func(t *testing.T, got Tokens) {
				if got.RefreshToken.Reveal() != oldRefresh || !got.IDToken.IsZero() || got.AccessToken.Reveal() != newAccess {
					t.Error("merge of a partial answer is wrong")
				}
			},
		},
		{
			name:    "401",
			respond: answer(401, `{"error":{"message":"token `+bodyCanary+` bad","code":"token_expired"}}`),
			want:    ErrReloginRequired, in: []string{"HTTP 401", `"token_expired"`},
		},
		{
			name:    "400 refresh_token_reused",
			respond: answer(400, `{"error":{"message":"Your refresh token has already been used `+bodyCanary+`","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`),
			want:    ErrReloginRequired, in: []string{"HTTP 400", "already used", `"refresh_token_reused"`},
		},
		{
			name:    "400 refresh_token_expired as a flat OAuth error",
			respond: answer(400, `{"error":"REFRESH_TOKEN_EXPIRED","error_description":"`+bodyCanary+`"}`),
			want:    ErrReloginRequired, in: []string{"has expired"},
		},
		{
			name:    "403 with a top-level refresh_token_invalidated code",
			respond: answer(403, `{"code":"refresh_token_invalidated","refresh_token":"`+bodyCanary+`"}`),
			want:    ErrReloginRequired, in: []string{"revoked", "HTTP 403"},
		},
		{
			name:    "400 invalid_grant is transient, as in Codex",
			respond: answer(400, `{"error":"invalid_grant","error_description":"refresh token expired"}`),
			want:    ErrTransient, in: []string{"HTTP 400", `"invalid_grant"`},
		},
		{
			name:    "500",
			respond: answer(500, `{"error":{"message":"`+bodyCanary+`"}}`),
			want:    ErrTransient, in: []string{"HTTP 500", "server error"},
		},
		{
			name:    "429",
			respond: answer(429, `rate limited `+bodyCanary),
			want:    ErrTransient, in: []string{"HTTP 429", "rate limited"},
		},
		{
			name: "timeout",
			respond: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done() // answers only when the client gives up
			},
			timeout: 20 * time.Millisecond,
			want:    ErrTransient, in: []string{"unreachable", "Timeout"},
		},
		{
			name:    "invalid JSON",
			respond: answer(200, `{"access_token":"`+bodyCanary+`",`),
			want:    ErrTransient, in: []string{"malformed JSON"},
		},
		{
			name:    "access token that is not a JWT",
			respond: answer(200, ok(map[string]any{"access_token": bodyCanary, "refresh_token": newRefresh})),
			want:    ErrTransient, in: []string{"malformed response", "not a JWT"},
		},
		{
			name:    "no access token",
			respond: answer(200, ok(map[string]any{"refresh_token": newRefresh})),
			want:    ErrTransient, in: []string{"without an access_token"},
		},
		{
			name:    "refreshed access token already expired",
			respond: answer(200, ok(map[string]any{"access_token": mint(t, accessClaims(withExp(refreshedNow().Add(-time.Minute)))), "refresh_token": newRefresh})),
			want:    ErrRefused, reason: ReasonExpired, in: []string{"expired"},
		},
		{
			name: "refreshed tokens for two accounts",
			respond: answer(200, ok(map[string]any{"access_token": newAccess, "refresh_token": newRefresh,
				"id_token": mint(t, idClaims(withAccount("99999999-0000-0000-0000-000000000000")))})),
			want: ErrRefused, reason: ReasonAccountMismatch,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTokenServer(t, c.respond)
			client := ts.Client()
			if c.timeout > 0 {
				client.Timeout = c.timeout
			}
			got, err := Refresh(context.Background(), client, ts.URL, oldRefresh, refreshedNow)
			bodies, headers := ts.requests()
			// A client that timed out may have given up before the server
			// recorded the request; otherwise there is exactly one.
			if len(bodies) > 1 || (len(bodies) == 0 && c.timeout == 0) {
				t.Fatalf("%d requests, want exactly one", len(bodies))
			}
			wantBody := `{"client_id":"app_EMoamEEZ73f0CkXaXp7hrann","grant_type":"refresh_token","refresh_token":"` + oldRefresh + `"}`
			if len(bodies) == 1 && (bodies[0] != wantBody || headers[0].Get("Content-Type") != "application/json") {
				t.Errorf("request %s %q", headers[0].Get("Content-Type"), bodies[0])
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				c.check(t, got)
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.reason != "" && reasonOf(err) != c.reason {
				t.Errorf("reason %q, want %q", reasonOf(err), c.reason)
			}
			if (c.want == ErrTransient) == (xerr.Code(err) == xerr.ExitRefused) {
				t.Errorf("exit code %d for %v", xerr.Code(err), c.want)
			}
			if got != (Tokens{}) {
				t.Error("tokens returned with an error")
			}
			for _, s := range c.in {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if xerr.Hint(err) == "" {
				t.Error("no hint")
			}
			assertNoSecret(t, "refresh error", errorText(err), secrets...)
		})
	}
}

func TestRefreshUnreachable(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	url, client := ts.URL, ts.Client()
	ts.Close()
	_, err := Refresh(context.Background(), client, url, oldRefresh, refreshedNow)
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, "error", errorText(err), oldRefresh)
}

// TestTakeOver reads an expiring login for take-over, refreshes it once and
// stores the result: the new pair, the old id_token (the answer had none),
// and nothing under CODEX_HOME changed on the way.
func TestTakeOver(t *testing.T) {
	home := t.TempDir()
	l := goodLogin(t)
	l.access = mint(t, accessClaims(withExp(testNow.Add(time.Minute))))
	writeFile(t, filepath.Join(home, "auth.json"), l.doc().bytes(t))
	before := treeSnapshot(t, home)

	opts := Options{CodexHome: home, Now: clock, TakeOver: true}
	login, err := Read(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	newAccess := mint(t, accessClaims(withExp(refreshedNow().Add(10*24*time.Hour)), withClaim("jti", "new")))
	ts := newTokenServer(t, answer(200, `{"access_token":"`+newAccess+`","refresh_token":"`+newRefresh+`"}`))

	taken, err := login.TakeOver(context.Background(), ts.Client(), ts.URL, refreshedNow)
	if err != nil {
		t.Fatalf("TakeOver: %v", err)
	}
	if d := diffSnapshots(before, treeSnapshot(t, home)); len(d) > 0 {
		t.Errorf("CODEX_HOME changed: %q", d)
	}
	if !taken.Summary.TakenOver || hasWarning(taken, "take-over refresh replaces it") || !taken.Summary.CheckedAt.Equal(refreshedNow()) {
		t.Errorf("summary after take-over: %+v", taken.Summary)
	}
	if login.Tokens.AccessToken.Reveal() != l.access {
		t.Error("TakeOver changed its receiver")
	}
	blk, err := HermesBlock(taken)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tokens      map[string]string `json:"tokens"`
		LastRefresh string            `json:"last_refresh"`
	}
	if err := json.Unmarshal(blk, &got); err != nil {
		t.Fatal(err)
	}
	if got.Tokens["access_token"] != newAccess || got.Tokens["refresh_token"] != newRefresh || got.Tokens["id_token"] != l.id ||
		got.Tokens["account_id"] != testAccount || got.LastRefresh != "2026-11-20T15:00:00.000000Z" {
		t.Errorf("block after take-over: %s", blk)
	}
	assertNoSecret(t, "summary", taken.Summary.String(), newAccess, newRefresh, l.id, l.refresh)
}

func TestTakeOverIntoAnotherAccountIsRefused(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "auth.json"), goodLogin(t).doc().bytes(t))
	login, err := Read(context.Background(), Options{CodexHome: home, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	other := mint(t, accessClaims(withAccount("99999999-0000-0000-0000-000000000000"), withExp(refreshedNow().Add(time.Hour))))
	ts := newTokenServer(t, answer(200, `{"access_token":"`+other+`","refresh_token":"`+newRefresh+`"}`))
	_, err = login.TakeOver(context.Background(), ts.Client(), ts.URL, refreshedNow)
	if reasonOf(err) != ReasonAccountMismatch || !strings.Contains(xerr.Hint(err), "codex login") {
		t.Fatalf("err = %v, hint %q", err, xerr.Hint(err))
	}
	assertNoSecret(t, "error", errorText(err), other, newRefresh)
}

// A redirect is a failure, never followed: a 307 would re-send the refresh
// token to wherever it points.
func TestRefreshDoesNotFollowRedirects(t *testing.T) {
	elsewhere := newTokenServer(t, answer(200, `{}`))
	ts := newTokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	})
	_, err := Refresh(context.Background(), ts.Client(), ts.URL, oldRefresh, refreshedNow)
	if !errors.Is(err, ErrTransient) || !strings.Contains(err.Error(), "HTTP 307") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := elsewhere.requests(); len(b) != 0 {
		t.Fatal("the refresh token was sent on to the redirect target")
	}
}

// Issue 10 item 8: a token endpoint that is not https never receives the
// refresh token (any build: loopback http is the testhooks build's only
// exception).
func TestRefreshRefusesNonHTTPS(t *testing.T) {
	for _, u := range []string{"http://example.invalid/oauth/token", "ftp://127.0.0.1/x", "http://localhost.example/oauth/token", "127.0.0.1:80/x", "https://"} {
		_, err := Refresh(context.Background(), &http.Client{}, u, oldRefresh, refreshedNow)
		if err == nil {
			t.Errorf("%s: refresh went ahead", u)
			continue
		}
		if errors.Is(err, ErrTransient) {
			t.Errorf("%s: a request was attempted: %v", u, err)
		}
		assertNoSecret(t, "error", errorText(err), oldRefresh)
	}
}
