package codex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// fixture is one CODEX_HOME with its fake keyring.
type fixture struct {
	home    string
	kr      *fakeKeyring
	opts    Options
	secrets []string // every secret planted, none of which may leak
	sleeps  int
	// before is the snapshot the run is compared against; a scenario that
	// changes the tree on purpose (the partial-file one) retakes it.
	before map[string]string
}

func (f *fixture) hash(t testing.TB) string { return hashOf(t, f.home) }

func (f *fixture) authFile(t testing.TB, b []byte) {
	writeFile(t, filepath.Join(f.home, "auth.json"), b)
}

func (f *fixture) config(t testing.TB, s string) {
	writeFile(t, filepath.Join(f.home, "config.toml"), []byte(s))
}

func (f *fixture) keyringLogin(t testing.TB, a authJSON) {
	f.kr.put(KeyringService, "cli|"+f.hash(t), compact(t, a))
}

func (f *fixture) secretsLogin(t testing.TB, a authJSON) {
	f.kr.put(SecretsKeyringService, "secrets|"+f.hash(t), testPassphrase)
	f.secrets = append(f.secrets, testPassphrase)
	writeFile(t, filepath.Join(f.home, "secrets", "codex_auth.age"),
		ageEncrypt(t, testPassphrase, map[string]string{"global/CODEX_AUTH": compact(t, a)}))
}

// plant records a login's tokens as secrets of the fixture and returns it.
func (f *fixture) plant(l login) login {
	f.secrets = append(f.secrets, l.secrets()...)
	return l
}

type scenario struct {
	name  string
	setup func(t *testing.T, f *fixture)
	// want is the refusal reason, "" for success.
	want  Reason
	check func(t *testing.T, f *fixture, l *Login, err error)
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "valid import",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, f.plant(goodLogin(t)).doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, _ error) {
				g := goodLogin(t)
				s := l.Summary
				if s.Source != SourceAuthFile || s.Email != testEmail || s.Plan != "plus" || s.AccountID != "1111…5555" || s.Mode != ModeChatGPT {
					t.Errorf("summary = %+v", s)
				}
				if !s.AccessExpires.Equal(testNow.Add(10*24*time.Hour)) || s.SignatureVerified {
					t.Errorf("expiry/signature in summary: %+v", s)
				}
				if len(s.Warnings) != 0 {
					t.Errorf("warnings on a clean login: %q", s.Warnings)
				}
				if !strings.Contains(s.String(), "not verified: Codex does not verify them either") {
					t.Errorf("summary does not say signatures are unverified:\n%s", s)
				}
				if l.Tokens.AccessToken.Reveal() != g.access || l.Tokens.RefreshToken.Reveal() != g.refresh || l.Tokens.AccountID != testAccount {
					t.Error("tokens not carried over")
				}
				blk, err := HermesBlock(l)
				if err != nil {
					t.Fatal(err)
				}
				want := `{"tokens":{"id_token":"` + g.id + `","access_token":"` + g.access + `","refresh_token":"` + g.refresh +
					`","account_id":"` + testAccount + `"},"last_refresh":"2026-11-20T12:00:00.000000Z","auth_mode":"chatgpt"}`
				if string(blk) != want {
					t.Errorf("HermesBlock =\n%s\nwant\n%s", blk, want)
				}
			},
		},
		{
			name: "expired access token",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withExp(testNow.Add(-time.Hour))))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonExpired,
		},
		{
			name: "access token without exp",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withoutClaim("exp")))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonExpired,
		},
		{
			name: "expiring within five minutes",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withExp(testNow.Add(4*time.Minute))))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonExpiresSoon,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(xerr.Hint(err), "--take-over") {
					t.Errorf("hint does not offer the take-over: %q", xerr.Hint(err))
				}
			},
		},
		{
			name: "expiring but taken over",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withExp(testNow.Add(4*time.Minute))))
				f.authFile(t, f.plant(l).doc().bytes(t))
				f.opts.TakeOver = true
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !hasWarning(l, "take-over refresh replaces it") {
					t.Errorf("warnings = %q", l.Summary.Warnings)
				}
				if _, err := HermesBlock(l); reasonOf(err) != ReasonNotTakenOver {
					t.Errorf("HermesBlock of a stale login: %v, want %s", err, ReasonNotTakenOver)
				}
			},
		},
		{
			name: "account mismatch between file and tokens",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.account = "99999999-0000-0000-0000-000000000000"
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonAccountMismatch,
		},
		{
			name: "account mismatch between the tokens",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.id = mint(t, idClaims(withAccount("99999999-0000-0000-0000-000000000000")))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonAccountMismatch,
		},
		{
			name: "expired and mismatched: the mismatch is the reason, not the expiry",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withExp(testNow.Add(-time.Hour))))
				l.account = "99999999-0000-0000-0000-000000000000"
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonAccountMismatch,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if strings.Contains(xerr.Hint(err), "--take-over") || !strings.Contains(err.Error(), "expired") {
					t.Errorf("err %v, hint %q", err, xerr.Hint(err))
				}
			},
		},
		{
			name: "subject mismatch",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.id = mint(t, idClaims(withClaim("sub", "auth0|someone-else")))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonSubjectMismatch,
		},
		{
			name: "missing account_id is taken from the claims",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				a := f.plant(l).doc()
				delete(a.Tokens, "account_id")
				f.authFile(t, a.bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Tokens.AccountID != testAccount || !hasWarning(l, "tokens.account_id is missing") {
					t.Errorf("account %q, warnings %q", l.Tokens.AccountID, l.Summary.Warnings)
				}
			},
		},
		{
			name: "missing refresh token",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.refresh = ""
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonMissingRefreshToken,
		},
		{
			name: "missing last_refresh",
			setup: func(t *testing.T, f *fixture) {
				a := f.plant(goodLogin(t)).doc()
				a.LastRefresh = nil
				f.authFile(t, a.bytes(t))
			},
			want: ReasonMissingLastRefresh,
		},
		{
			name: "last_refresh not a time",
			setup: func(t *testing.T, f *fixture) {
				a := f.plant(goodLogin(t)).doc()
				a.LastRefresh = refreshCanary
				f.authFile(t, a.bytes(t))
			},
			want: ReasonMissingLastRefresh,
		},
		{
			name: "id_token not a JWT",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.id = "not-a-jwt-CANARY-0123456789abcdefghijklmnopqrstuvwxyz"
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonMalformedToken,
		},
		{
			name: "id_token payload not JSON",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				parts := strings.Split(l.id, ".")
				l.id = parts[0] + ".bm90IGpzb24." + parts[2] // "not json"
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			want: ReasonMalformedToken,
		},
		{
			name: "alg none tokens are decoded and flagged",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.id, l.access = mintNone(t, idClaims()), mintNone(t, accessClaims())
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !hasWarning(l, "tokens.access_token is unsigned") || !hasWarning(l, "tokens.id_token is unsigned") {
					t.Errorf("warnings = %q", l.Summary.Warnings)
				}
				if l.Summary.Email != testEmail {
					t.Errorf("claims not decoded: %+v", l.Summary)
				}
			},
		},
		{
			name: "claims shown in the summary are made printable",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.id = mint(t, idClaims(withClaim("email", "eve\x1b]0;pwned\x07@example.com")))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, _ error) {
				if l.Summary.Email != "eve?]0;pwned?@example.com" {
					t.Errorf("email %q", l.Summary.Email)
				}
			},
		},
		{
			name: "issuer, audience and client id are warnings only",
			setup: func(t *testing.T, f *fixture) {
				l := goodLogin(t)
				l.access = mint(t, accessClaims(withClaim("iss", "https://evil.example"), withClaim("aud", "x"), withClaim("client_id", "other")))
				l.id = mint(t, idClaims(withClaim("aud", "x")))
				f.authFile(t, f.plant(l).doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				for _, w := range []string{"issuer is not", "audience does not include https", "client_id is not", "id token's audience"} {
					if !hasWarning(l, w) {
						t.Errorf("no warning %q in %q", w, l.Summary.Warnings)
					}
				}
			},
		},
		{
			name: "API-key-only file",
			setup: func(t *testing.T, f *fixture) {
				f.secrets = append(f.secrets, apiKeyCanary)
				f.authFile(t, authJSON{AuthMode: "apikey", APIKey: apiKeyCanary}.bytes(t))
			},
			want: ReasonNotChatGPT,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(xerr.Hint(err), "--api-key") {
					t.Errorf("hint does not offer --api-key: %q", xerr.Hint(err))
				}
			},
		},
		{
			name: "API-key-only legacy file, offered as env:OPENAI_API_KEY",
			setup: func(t *testing.T, f *fixture) {
				f.secrets = append(f.secrets, apiKeyCanary)
				f.authFile(t, []byte(`{"OPENAI_API_KEY": "`+apiKeyCanary+`"}`))
				f.opts.APIKey = true
			},
			check: func(t *testing.T, f *fixture, l *Login, _ error) {
				if l.Mode != ModeAPIKey {
					t.Fatalf("mode %s", l.Mode)
				}
				v, err := APIKeyValue(l)
				if err != nil || string(v) != `"`+apiKeyCanary+`"` {
					t.Errorf("APIKeyValue = %s, %v", v, err)
				}
				if _, err := HermesBlock(l); reasonOf(err) != ReasonNotChatGPT {
					t.Errorf("HermesBlock of an API key login: %v", err)
				}
			},
		},
		{
			// As `codex login --with-access-token` writes it: no
			// auth_mode (rollback compatibility), OPENAI_API_KEY null.
			name: "personal access token is validated and imported",
			setup: func(t *testing.T, f *fixture) {
				f.secrets = append(f.secrets, patCanary)
				f.authFile(t, []byte("{\n  \"OPENAI_API_KEY\": null,\n  \"personal_access_token\": \""+patCanary+"\"\n}"))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Mode != ModePersonalAccessToken || l.PAT.Reveal() != patCanary {
					t.Fatalf("mode %s, PAT matches: %v", l.Mode, l.PAT.Reveal() == patCanary)
				}
				if _, err := HermesBlock(l); reasonOf(err) != ReasonNotChatGPT {
					t.Errorf("HermesBlock of a PAT login: %v", err)
				}
				e, perr := HermesPATEntry(l, "a1b2c3", 2)
				if perr != nil {
					t.Fatal(perr)
				}
				want := `{"id":"a1b2c3","label":"codex-pat","auth_type":"api_key","priority":2,"source":"manual:codex_pat","access_token":"` + patCanary + `","last_status":null,"last_status_at":null,"last_error_code":null,"last_error_reason":null,"last_error_message":null,"last_error_reset_at":null,"base_url":"https://chatgpt.com/backend-api/codex","request_count":0}`
				if string(e) != want {
					t.Errorf("pool entry\n got %s\nwant %s", e, want)
				}
			},
		},
		{
			name: "personal access token with an explicit auth_mode",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"auth_mode":"personalAccessToken","OPENAI_API_KEY":null,"personal_access_token":"`+patCanary+`"}`))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Mode != ModePersonalAccessToken {
					t.Fatalf("mode %s", l.Mode)
				}
			},
		},
		{
			name: "personal access token that is not one",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"OPENAI_API_KEY": null, "personal_access_token": "sk-CANARY-0123456789abcdefghijklmnopqrstuvwxyz"}`))
			},
			want: ReasonMalformedToken,
		},
		{
			name: "personal access token with a newline",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"OPENAI_API_KEY": null, "personal_access_token": "at-CANARY-0123456789\nabcdefghijklmnopqrstuvwxyz"}`))
			},
			want: ReasonMalformedToken,
		},
		{
			name: "personal access token empty",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"OPENAI_API_KEY": null, "personal_access_token": ""}`))
			},
			want: ReasonMissingAccessToken,
		},
		{
			name: "personal access token not a string",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"OPENAI_API_KEY": null, "personal_access_token": {"v": "at-CANARY-0123456789abcdefghijklmnopqrstuvwxyz"}}`))
			},
			want: ReasonUnreadable,
		},
		{
			name: "agent identity (JWT form) is refused with its reason",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"auth_mode": "agentIdentity", "OPENAI_API_KEY": null, "agent_identity": "e30.e30.CANARY0123456789abcdefghijklmnopqrstuvwxyz"}`))
			},
			want: ReasonNotChatGPT,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "agent identity (a signed agent-identity token)") || !strings.Contains(err.Error(), "only send a bearer token") {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "agent identity (record form) is refused with its reason",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"auth_mode":"agentIdentity","OPENAI_API_KEY":null,"agent_identity":{"agent_runtime_id":"rt-1","agent_private_key":"CANARY-0123456789abcdefghijklmnopqrstuvwxyz","account_id":"acc","chatgpt_user_id":"u","email":"a@example.com","plan_type":"pro","chatgpt_account_is_fedramp":false}}`))
			},
			want: ReasonNotChatGPT,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "an agent runtime id with its private key") {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "auto mode: auth.json newer than the keyring entry wins, and it says which",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"auto\"\n[features]\nsecret_auth_storage = false\n")
				old := f.plant(goodLogin(t)).doc()
				old.LastRefresh = "2026-11-01T10:00:00Z"
				f.keyringLogin(t, old)
				g2 := goodLogin(t)
				g2.refresh = "rt_second_" + strings.Repeat("b", 40)
				nw := f.plant(g2).doc()
				nw.LastRefresh = "2026-12-01T10:00:00.123456789Z"
				f.authFile(t, nw.bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceAuthFile {
					t.Errorf("used %s, want auth.json (newer)", l.Summary.Source)
				}
				if !hasWarning(l, "the newer by last_refresh (2026-12-01T10:00:00Z against 2026-11-01T10:00:00Z)") {
					t.Errorf("warnings %q", l.Summary.Warnings)
				}
			},
		},
		{
			name: "auto mode: keyring entry newer than auth.json wins",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"auto\"\n[features]\nsecret_auth_storage = false\n")
				g2 := goodLogin(t)
				g2.refresh = "rt_second_" + strings.Repeat("b", 40)
				nw := f.plant(g2).doc()
				nw.LastRefresh = "2026-12-01T10:00:00Z"
				f.keyringLogin(t, nw)
				old := f.plant(goodLogin(t)).doc()
				old.LastRefresh = "2026-11-01T10:00:00Z"
				f.authFile(t, old.bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceKeyring || !hasWarning(l, "using keyring") && !hasWarning(l, "the newer by last_refresh") {
					t.Errorf("used %s, warnings %q", l.Summary.Source, l.Summary.Warnings)
				}
			},
		},
		{
			name: "ephemeral mode with nothing on disk says so plainly",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"ephemeral\"\n")
			},
			want: ReasonNotLoggedIn,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "process memory only") || !strings.Contains(xerr.Hint(err), "cli_auth_credentials_store") {
					t.Errorf("err %v, hint %q", err, xerr.Hint(err))
				}
			},
		},
		{
			name: "bedrock",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"auth_mode": "bedrockApiKey", "OPENAI_API_KEY": null, "bedrock_api_key": {"api_key": "CANARY-0123456789abcdefghijklmnopqrstuvwxyz", "region": "us-east-1"}}`))
			},
			want: ReasonNotChatGPT,
		},
		{
			name:  "logged out: no file",
			setup: func(t *testing.T, f *fixture) {},
			want:  ReasonNotLoggedIn,
		},
		{
			name: "logged out: file without credentials",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"OPENAI_API_KEY": null}`))
			},
			want: ReasonNotLoggedIn,
		},
		{
			name: "unknown auth_mode with tokens",
			setup: func(t *testing.T, f *fixture) {
				a := f.plant(goodLogin(t)).doc()
				a.AuthMode = "oauth"
				f.authFile(t, a.bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Mode != ModeChatGPT || !hasWarning(l, `auth_mode "oauth" is unknown`) {
					t.Errorf("mode %s, warnings %q", l.Mode, l.Summary.Warnings)
				}
			},
		},
		{
			name: "unknown auth_mode without tokens",
			setup: func(t *testing.T, f *fixture) {
				f.secrets = append(f.secrets, apiKeyCanary)
				f.authFile(t, authJSON{AuthMode: "weird-CANARY-0123456789abcdefghijklmnopqrstuvwxyz", APIKey: apiKeyCanary}.bytes(t))
			},
			want: ReasonNotChatGPT,
		},
		{
			name: "partial file becomes whole on retry",
			setup: func(t *testing.T, f *fixture) {
				whole := f.plant(goodLogin(t)).doc().bytes(t)
				path := filepath.Join(f.home, "auth.json")
				f.authFile(t, whole[:len(whole)/2])
				f.opts.Sleep = func(d time.Duration) {
					f.sleeps++
					if d != 50*time.Millisecond {
						t.Errorf("retry delay %v", d)
					}
					if f.sleeps == 2 {
						// Codex finishes its in-place write while the
						// reader waits.
						done := make(chan struct{})
						go func() {
							defer close(done)
							fi, err := os.Stat(path)
							if err != nil {
								t.Error(err)
								return
							}
							os.Chmod(path, 0o600) // the read-only variant made it 0400
							fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
							if err != nil {
								t.Error(err)
								return
							}
							fh.Write(whole)
							fh.Close()
							os.Chmod(path, fi.Mode().Perm())
						}()
						<-done
						f.before = treeSnapshot(t, f.home)
					}
				}
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if f.sleeps != 2 {
					t.Errorf("slept %d times, want 2", f.sleeps)
				}
			},
		},
		{
			name: "partial file that never completes",
			setup: func(t *testing.T, f *fixture) {
				whole := f.plant(goodLogin(t)).doc().bytes(t)
				f.authFile(t, whole[:len(whole)/2])
			},
			want: ReasonUnreadable,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if f.sleeps != 5 || !strings.Contains(err.Error(), "after 6 attempts") {
					t.Errorf("slept %d times; %v", f.sleeps, err)
				}
			},
		},
		{
			name: "10 MB file",
			setup: func(t *testing.T, f *fixture) {
				fh, err := os.Create(filepath.Join(f.home, "auth.json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := fh.Truncate(10 << 20); err != nil {
					t.Fatal(err)
				}
				fh.Close()
			},
			want: ReasonUnreadable,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "larger than the 1 MiB limit (10485760 bytes)") || f.sleeps != 0 {
					t.Errorf("err %v after %d sleeps", err, f.sleeps)
				}
			},
		},
		{
			name: "non-UTF-8 content",
			setup: func(t *testing.T, f *fixture) {
				b := f.plant(goodLogin(t)).doc().bytes(t)
				b = []byte(strings.Replace(string(b), `"chatgpt"`, "\"chat\xff\xfegpt\"", 1))
				f.authFile(t, b)
			},
			want: ReasonUnreadable,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "not valid UTF-8") {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "wrong JSON shape",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte(`{"tokens": "`+refreshCanary+`"}`))
			},
			want: ReasonUnreadable,
		},
		{
			name: "direct keyring entry, keyring mode",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"keyring\"\n[features]\nsecret_auth_storage = false\n")
				f.keyringLogin(t, f.plant(goodLogin(t)).doc())
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceKeyring || !strings.Contains(l.Summary.Location, `"Codex Auth"/"cli|`+f.hash(t)+`"`) {
					t.Errorf("source %s at %s", l.Summary.Source, l.Summary.Location)
				}
			},
		},
		{
			name: "secrets file, passphrase in the keyring",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = 'auto' # comment\n\n[features]\nsecret_auth_storage = true\n")
				f.secretsLogin(t, f.plant(goodLogin(t)).doc())
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceSecrets || l.Tokens.RefreshToken.Reveal() != refreshCanary {
					t.Errorf("source %s", l.Summary.Source)
				}
			},
		},
		{
			name: "secrets file without its passphrase",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"keyring\"\nfeatures.secret_auth_storage = true\n")
				f.secretsLogin(t, f.plant(goodLogin(t)).doc())
				delete(f.kr.entries, [2]string{SecretsKeyringService, "secrets|" + f.hash(t)})
			},
			want: ReasonUnreadable,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(err.Error(), "passphrase") {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "secrets file with the wrong passphrase",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"keyring\"\nfeatures = { secret_auth_storage = true }\n")
				f.secretsLogin(t, f.plant(goodLogin(t)).doc())
				f.kr.put(SecretsKeyringService, "secrets|"+f.hash(t), "another-passphrase")
			},
			want: ReasonUnreadable,
		},
		{
			name: "file mode: auth.json wins over a different keyring login, which is reported",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, f.plant(goodLogin(t)).doc().bytes(t))
				other := goodLogin(t)
				other.refresh = "rt_CANARY_other_0123456789abcdefghijklmnopqrstuvwxyz"
				other.lastRefresh = "2026-11-20T11:00:00Z"
				f.keyringLogin(t, f.plant(other).doc())
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceAuthFile || l.Tokens.RefreshToken.Reveal() != refreshCanary {
					t.Errorf("used %s", l.Summary.Source)
				}
				if !hasWarning(l, "a different one; not used although it was refreshed more recently") {
					t.Errorf("warnings %q", l.Summary.Warnings)
				}
				o := others(l, SourceKeyring)
				if !o.Found || o.Used || o.SameAsUsed {
					t.Errorf("keyring report %+v", o)
				}
			},
		},
		{
			name: "auto mode: the keyring wins; an identical auth.json is reported as such",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"auto\"\n[features]\nsecret_auth_storage = false\n")
				g := f.plant(goodLogin(t))
				f.keyringLogin(t, g.doc())
				f.authFile(t, g.doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceKeyring {
					t.Errorf("used %s", l.Summary.Source)
				}
				if o := others(l, SourceAuthFile); !o.SameAsUsed {
					t.Errorf("auth.json report %+v", o)
				}
				if len(l.Summary.Warnings) != 0 {
					t.Errorf("warnings %q", l.Summary.Warnings)
				}
			},
		},
		{
			name: "auto mode with a failing keyring falls back to auth.json",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"auto\"\n[features]\nsecret_auth_storage = false\n")
				f.authFile(t, f.plant(goodLogin(t)).doc().bytes(t))
				f.kr.fail = errors.New("secret service is locked")
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceAuthFile || !hasWarning(l, "could not be checked (keyring error: secret service is locked)") {
					t.Errorf("used %s, warnings %q", l.Summary.Source, l.Summary.Warnings)
				}
			},
		},
		{
			name: "keyring mode with a locked keyring and nothing else",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"keyring\"\n[features]\nsecret_auth_storage = false\n")
				f.kr.fail = errors.New("collection is locked")
			},
			want: ReasonNotLoggedIn,
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !strings.Contains(xerr.Hint(err), "unlock it") || !strings.Contains(err.Error(), "collection is locked") {
					t.Errorf("err %v, hint %q", err, xerr.Hint(err))
				}
			},
		},
		{
			name: "ephemeral mode: a leftover auth.json is used with a warning",
			setup: func(t *testing.T, f *fixture) {
				f.config(t, "cli_auth_credentials_store = \"ephemeral\"\n")
				f.authFile(t, f.plant(goodLogin(t)).doc().bytes(t))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !hasWarning(l, "process memory only, never on disk") || !hasWarning(l, "from an earlier storage mode") {
					t.Errorf("warnings %q", l.Summary.Warnings)
				}
			},
		},
		{
			name: "file mode with auth.json gone uses the keyring leftover, with a warning",
			setup: func(t *testing.T, f *fixture) {
				f.keyringLogin(t, f.plant(goodLogin(t)).doc())
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if l.Summary.Source != SourceKeyring || !hasWarning(l, "which Codex itself would not use") {
					t.Errorf("used %s, warnings %q", l.Summary.Source, l.Summary.Warnings)
				}
			},
		},
		{
			name: "file mode: a damaged auth.json is refused even with a keyring login",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, []byte("{"))
				f.keyringLogin(t, f.plant(goodLogin(t)).doc())
			},
			want: ReasonUnreadable,
		},
		{
			name: "byte order mark is tolerated with a warning",
			setup: func(t *testing.T, f *fixture) {
				f.authFile(t, append([]byte("\xef\xbb\xbf"), f.plant(goodLogin(t)).doc().bytes(t)...))
			},
			check: func(t *testing.T, f *fixture, l *Login, err error) {
				if !hasWarning(l, "byte order mark") {
					t.Errorf("warnings %q", l.Summary.Warnings)
				}
			},
		},
	}
}

func hasWarning(l *Login, sub string) bool {
	return slices.ContainsFunc(l.Summary.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

func others(l *Login, s Source) SourceReport {
	for _, o := range l.Summary.Others {
		if o.Source == s {
			return o
		}
	}
	return SourceReport{}
}

// TestScenarios runs every scenario twice: with a normal CODEX_HOME and
// with CODEX_HOME (and secrets/) at 0500 and its files at 0400. Each run proves the tree and the
// keyring are unchanged, whatever the outcome.
func TestScenarios(t *testing.T) {
	if os.Getenv(childEnv) != "" && os.Geteuid() == 0 {
		t.Fatal("the non-root child runs as root")
	}
	for _, readOnly := range []bool{false, true} {
		for _, sc := range scenarios() {
			name := sc.name
			if readOnly {
				name += " (CODEX_HOME 0500)"
			}
			t.Run(name, func(t *testing.T) { runScenario(t, sc, readOnly) })
		}
	}
}

func runScenario(t *testing.T, sc scenario, readOnly bool) {
	root := t.TempDir()
	f := &fixture{home: filepath.Join(root, "codex"), kr: newFakeKeyring()}
	if err := os.Mkdir(f.home, 0o700); err != nil {
		t.Fatal(err)
	}
	f.opts = Options{
		Env:     env(map[string]string{"CODEX_HOME": f.home, "HOME": root}),
		Keyring: f.kr,
		Now:     clock,
		Sleep:   func(time.Duration) { f.sleeps++ },
	}
	sc.setup(t, f)
	if readOnly {
		// Files 0400 too: as non-root, even opening one for writing fails.
		for _, p := range []string{"auth.json", "config.toml", "secrets/codex_auth.age"} {
			if fi, err := os.Stat(filepath.Join(f.home, p)); err == nil && fi.Mode().IsRegular() {
				if err := os.Chmod(filepath.Join(f.home, p), 0o400); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, d := range []string{filepath.Join(f.home, "secrets"), f.home} {
			if _, err := os.Stat(d); err == nil {
				if err := os.Chmod(d, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(d, 0o700) })
			}
		}
		if runtime.GOOS != "windows" && os.Geteuid() != 0 {
			// Not root: the mode is enforced, so any write Read tried would
			// fail. Make sure that is so.
			probe := filepath.Join(f.home, "probe")
			if err := os.WriteFile(probe, nil, 0o600); err == nil {
				os.Remove(probe)
				t.Fatal("CODEX_HOME at 0500 is writable; the read-only variant proves nothing")
			}
		}
	}
	f.before = treeSnapshot(t, f.home)
	krBefore := f.kr.snapshot()

	l, err := Read(context.Background(), f.opts)

	if d := diffSnapshots(f.before, treeSnapshot(t, f.home)); len(d) > 0 {
		t.Errorf("CODEX_HOME changed:\n%s", strings.Join(d, "\n"))
	}
	if !mapsEqual(krBefore, f.kr.snapshot()) {
		t.Error("keyring changed")
	}
	if _, err := os.Stat(filepath.Join(root, ".codex")); err == nil {
		t.Error("~/.codex was created")
	}

	switch {
	case sc.want == "" && err != nil:
		t.Fatalf("Read: %v\nhint: %s", err, xerr.Hint(err))
	case sc.want != "" && err == nil:
		t.Fatalf("Read succeeded, want refusal %s; summary:\n%s", sc.want, l.Summary)
	case sc.want != "":
		if !errors.Is(err, ErrRefused) || reasonOf(err) != sc.want || xerr.Code(err) != xerr.ExitRefused {
			t.Fatalf("err = %v (reason %q, code %d), want reason %s", err, reasonOf(err), xerr.Code(err), sc.want)
		}
		if xerr.Hint(err) == "" {
			t.Error("refusal without a hint")
		}
		if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
			t.Errorf("error not lowercase: %v", err)
		}
		assertNoSecret(t, "error", errorText(err), f.secrets...)
	default:
		assertNoSecret(t, "summary", l.Summary.String(), f.secrets...)
		assertNoSecret(t, "login printed with %+v", fmt.Sprintf("%+v %#v %s %v", l, l, l.Tokens, *l), f.secrets...)
	}
	if sc.check != nil {
		sc.check(t, f, l, err)
	}
}

func mapsEqual(a, b map[[2]string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCodexHomeMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := Read(context.Background(), Options{Env: env(map[string]string{"CODEX_HOME": missing}), Now: clock})
	if reasonOf(err) != ReasonNoCodexHome || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("CODEX_HOME was created")
	}
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, nil)
	_, err = Read(context.Background(), Options{CodexHome: file, Now: clock})
	if reasonOf(err) != ReasonNoCodexHome || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultHomeAndSymlinkedCodexHome(t *testing.T) {
	user := t.TempDir()
	real := filepath.Join(user, ".codex")
	writeFile(t, filepath.Join(real, "auth.json"), goodLogin(t).doc().bytes(t))
	// No CODEX_HOME: ~/.codex from HOME (USERPROFILE on Windows).
	l, err := Read(context.Background(), Options{Env: env(map[string]string{"HOME": user, "USERPROFILE": user}), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if l.Summary.Location != filepath.Join(real, "auth.json") {
		t.Errorf("location %s", l.Summary.Location)
	}
	// CODEX_HOME through a symlink: read (and hashed) at the canonical path.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if _, err := os.Stat(link); err != nil {
		t.Skip("symlinks do not resolve here (Wine):", err)
	}
	kr := newFakeKeyring()
	h := hashOf(t, real)
	kr.put(KeyringService, "cli|"+h, compact(t, goodLogin(t).doc()))
	l, err = Read(context.Background(), Options{CodexHome: link, Keyring: kr, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if o := others(l, SourceKeyring); !o.Found || !strings.Contains(o.Location, h) {
		t.Errorf("keyring entry of the canonical path not found: %+v", o)
	}
}

// Hash vectors from reference/codex-auth.md §3.3.
func TestKeyringAccountHash(t *testing.T) {
	for in, want := range map[string]string{
		"/home/alice/.codex":        "186293cbcd01a1e8",
		"/Users/alice/.codex":       "576cf2d09fac729f",
		`\\?\C:\Users\alice\.codex`: "0a09f70e1bf72236",
	} {
		if got := pathHash(in); got != want {
			t.Errorf("pathHash(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`C:\Users\alice\.codex`:     `\\?\C:\Users\alice\.codex`,
		`\\server\share\codex`:      `\\?\UNC\server\share\codex`,
		`\\?\C:\Users\alice\.codex`: `\\?\C:\Users\alice\.codex`,
	} {
		if got := extendedLengthPath(in); got != want {
			t.Errorf("extendedLengthPath(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	const dflt = "" // Codex's default: the secrets file on Windows only
	for _, c := range []struct {
		in         string
		mode       StoreMode
		secretAuth string
		warn       bool
	}{
		{"", StoreFile, dflt, false},
		{`cli_auth_credentials_store = "keyring"`, StoreKeyring, dflt, false},
		{"cli_auth_credentials_store = 'auto' # the default is file\n", StoreAuto, dflt, false},
		{"model = \"gpt-5\"\n[features]\nsecret_auth_storage = true\n", StoreFile, "true", false},
		{"[features]\nsecret_auth_storage = false # off\n", StoreFile, "false", false},
		{"features.secret_auth_storage = true\ncli_auth_credentials_store=\"ephemeral\"", StoreEphemeral, "true", false},
		{"features = { other = false, secret_auth_storage = true }", StoreFile, "true", false},
		// Keys of other tables and inside multi-line strings do not count.
		{"[profiles.work]\ncli_auth_credentials_store = \"keyring\"\n", StoreFile, dflt, false},
		{"notes = \"\"\"\ncli_auth_credentials_store = \"keyring\"\n\"\"\"\n", StoreFile, dflt, false},
		{"[other]\nsecret_auth_storage = true\n", StoreFile, dflt, false},
		{`cli_auth_credentials_store = "vault"`, StoreFile, dflt, true},
		{`cli_auth_credentials_store = 3`, StoreFile, dflt, true},
	} {
		cfg := parseConfig([]byte(c.in))
		want := c.secretAuth == "true" || (c.secretAuth == dflt && runtime.GOOS == "windows")
		if cfg.mode != c.mode || cfg.secretAuth != want || (len(cfg.warnings) > 0) != c.warn {
			t.Errorf("parseConfig(%q) = %+v", c.in, cfg)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := newSecret(refreshCanary)
	tok := Tokens{RefreshToken: s, AccessToken: s, IDToken: s, AccountID: testAccount}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", tok, tok, &tok), s.String(), s.GoString(), s.LogValue().String(),
	} {
		assertNoSecret(t, "printed secret", out, refreshCanary)
	}
	if _, err := json.Marshal(tok); err == nil {
		t.Error("Tokens marshalled to JSON")
	}
	if s.Reveal() != refreshCanary {
		t.Error("Reveal")
	}
}

// Tokens minted here must parse as golang-jwt sees them.
func TestMintedTokensDecode(t *testing.T) {
	info, w, p := decodeJWT("x", newSecret(mint(t, accessClaims())))
	if p != "" || len(w) != 0 || info.accountID != testAccount || info.email != testEmail || info.clientID != ClientID {
		t.Fatalf("%+v %q %q", info, w, p)
	}
}
