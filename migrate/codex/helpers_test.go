package codex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/golang-jwt/jwt/v5"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// hmacKey signs the test tokens. Signatures are never verified, so any key
// does; it only makes the tokens look like real ones.
var hmacKey = []byte("hermes-keys codex test key")

const (
	testAccount = "11111111-2222-3333-4444-555555555555"
	testSub     = "auth0|user-1234"
	testEmail   = "alice@example.com"
	// refreshCanary is long, so no message may echo it as a "short label".
	refreshCanary = "rt_CANARY_refresh_0123456789abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ"
	apiKeyCanary  = "sk-proj-CANARY_apikey_0123456789abcdefghijklmnopqrstuvwxyz"
	patCanary     = "at-CANARY_pat_0123456789abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ"
)

// claimsOpt edits the claims of a minted token.
type claimsOpt func(jwt.MapClaims)

func withExp(t time.Time) claimsOpt { return func(c jwt.MapClaims) { c["exp"] = t.Unix() } }
func withoutClaim(k string) claimsOpt {
	return func(c jwt.MapClaims) { delete(c, k) }
}
func withAccount(a string) claimsOpt {
	return func(c jwt.MapClaims) {
		c[authClaim] = jwt.MapClaims{"chatgpt_account_id": a, "chatgpt_plan_type": "plus", "chatgpt_user_id": "user-1234"}
	}
}
func withClaim(k string, v any) claimsOpt { return func(c jwt.MapClaims) { c[k] = v } }

func accessClaims(opts ...claimsOpt) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":       expectedIssuer,
		"aud":       []string{expectedAudience},
		"client_id": ClientID,
		"sub":       testSub,
		"iat":       testNow.Add(-time.Hour).Unix(),
		"exp":       testNow.Add(10 * 24 * time.Hour).Unix(),
		"scp":       []string{"openid", "profile", "email", "offline_access"},
		authClaim:   jwt.MapClaims{"chatgpt_account_id": testAccount, "chatgpt_plan_type": "plus", "chatgpt_user_id": "user-1234"},
		profileClaim: jwt.MapClaims{
			"email": testEmail, "email_verified": true,
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func idClaims(opts ...claimsOpt) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":     expectedIssuer,
		"aud":     []string{ClientID},
		"sub":     testSub,
		"email":   testEmail,
		"iat":     testNow.Add(-time.Hour).Unix(),
		"exp":     testNow.Add(-30 * time.Minute).Unix(), // id tokens are short-lived; never checked
		authClaim: jwt.MapClaims{"chatgpt_account_id": testAccount, "chatgpt_plan_type": "plus", "chatgpt_user_id": "user-1234"},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func mint(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mintNone(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authDocJSON builds an auth.json document the way Codex writes one
// (pretty, Codex's key order) from a map of top-level fields.
type authJSON struct {
	AuthMode    any            `json:"auth_mode,omitempty"`
	APIKey      any            `json:"OPENAI_API_KEY"`
	Tokens      map[string]any `json:"tokens,omitempty"`
	LastRefresh any            `json:"last_refresh,omitempty"`
	Extra       map[string]any `json:"-"`
}

func (a authJSON) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Extra) > 0 {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		maps.Copy(m, a.Extra)
		b, _ = json.MarshalIndent(m, "", "  ")
	}
	return b
}

// login is a valid ChatGPT login; the tokens are kept so tests can check
// that none of them leaks.
type login struct {
	id, access, refresh, account string
	lastRefresh                  string
}

func goodLogin(t testing.TB) login {
	return login{
		id:          mint(t, idClaims()),
		access:      mint(t, accessClaims()),
		refresh:     refreshCanary,
		account:     testAccount,
		lastRefresh: "2026-11-20T10:15:42.123456789Z",
	}
}

func (l login) doc() authJSON {
	return authJSON{
		AuthMode: "chatgpt",
		APIKey:   nil,
		Tokens: map[string]any{
			"id_token": l.id, "access_token": l.access, "refresh_token": l.refresh, "account_id": l.account,
		},
		LastRefresh: l.lastRefresh,
	}
}

func (l login) secrets() []string { return []string{l.id, l.access, l.refresh} }

// compact is the compact JSON Codex stores in the keyring.
func compact(t testing.TB, a authJSON) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, a.bytes(t)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// fakeKeyring is a map behind the read-only Keyring interface.
type fakeKeyring struct {
	mu      sync.Mutex
	entries map[[2]string]string
	fail    error // returned by every Get when set
	gets    int
}

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{entries: map[[2]string]string{}} }

func (k *fakeKeyring) Get(_ context.Context, service, account string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gets++
	if k.fail != nil {
		return "", k.fail
	}
	v, ok := k.entries[[2]string{service, account}]
	if !ok {
		return "", fmt.Errorf("%s/%s: %w", service, account, ErrNotFound)
	}
	return v, nil
}

func (k *fakeKeyring) put(service, account, v string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.entries[[2]string{service, account}] = v
}

func (k *fakeKeyring) snapshot() map[[2]string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.entries)
}

// ageEncrypt makes secrets/codex_auth.age content the way Codex does: an age
// file to an scrypt passphrase holding {"version":1,"secrets":{...}}.
func ageEncrypt(t testing.TB, passphrase string, secrets map[string]string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10) // fast; the reader accepts any factor up to age's limit
	plain, err := json.Marshal(map[string]any{"version": 1, "secrets": secrets})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testPassphrase has the shape of Codex's: base64 of 32 bytes.
const testPassphrase = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M="

// hashOf is the keyring hash of a test CODEX_HOME.
func hashOf(t testing.TB, dir string) string {
	t.Helper()
	c, err := canonical(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pathHash(hashInput(c))
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// treeSnapshot records every path under root with its mode, mtime and
// content hash, so a test can prove nothing was created, changed, chmodded
// or removed.
func treeSnapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		desc := fmt.Sprintf("mode=%v mtime=%d size=%d", fi.Mode(), fi.ModTime().UnixNano(), fi.Size())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " sha256=" + hex.EncodeToString(sum[:])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			d = append(d, "removed "+k)
		} else if v != w {
			d = append(d, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "created "+k)
		}
	}
	sort.Strings(d)
	return d
}

// assertNoSecret fails when any of secrets appears in text.
func assertNoSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret value: %q", what, text)
		}
	}
	for _, canary := range []string{"CANARY"} {
		if strings.Contains(text, canary) {
			t.Errorf("%s contains a canary: %q", what, text)
		}
	}
}

// errorText is everything a user could see of err: message and hint.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + "\nhint: " + xerr.Hint(err)
}

func reasonOf(err error) Reason {
	var re *RefusalError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func env(m map[string]string) iox.Env { return iox.MapEnv(m) }
