package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

const (
	canaryNous   = "CANARY-nous-refresh-5f1d"
	canaryShared = "CANARY-shared-refresh-77aa"
	canaryAnth   = "CANARY-anthropic-oauth-0c3e"
	canaryProf   = "CANARY-profile-codex-91b2"
)

type fixture struct {
	root, prof hermes.Home
	v          *broker.Vault
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	env := iox.MapEnv(map[string]string{"HERMES_HOME": dir})
	root, err := hermes.Resolve(env, runtime.GOOS, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := root.WithProfile("work")
	if err != nil {
		t.Fatal(err)
	}
	write(t, root.AuthPath(), `{"version": 1, "active_provider": "nous", "providers": {"nous": {"access_token": "at", "refresh_token": "`+canaryNous+`"}}}`)
	write(t, root.SharedNousPath(), `{"refresh_token": "`+canaryShared+`"}`)
	write(t, root.AnthropicOAuthPath(), `{"refreshToken": "`+canaryAnth+`"}`)
	write(t, prof.AuthPath(), `{"version": 1, "providers": {"openai-codex": {"tokens": {"refresh_token": "`+canaryProf+`"}}}}`)
	b, _ := backends.NewFake(4096)
	v, _, err := broker.Create(context.Background(), filepath.Join(dir, broker.DirName), b, broker.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{root, prof, v}
}

// scan fails if any file under dir holds one of the canaries.
func scan(t *testing.T, dir string, canaries ...string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.Contains(p, broker.DirName) {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, c := range canaries {
			if strings.Contains(string(b), c) {
				t.Errorf("%s still holds %s", p, c)
			}
		}
		return nil
	})
}

func TestRootSealsCrossFileGroupsInOneWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before, err := f.v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRoot([]hermes.Home{f.root, f.prof}, f.v, time.Now)
	res, err := r.Sync(ctx, SyncOptions{Scrub: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation != before.Generation+1 {
		t.Errorf("vault generation %d -> %d: want exactly one write for all documents", before.Generation, c.Generation)
	}
	for _, k := range []string{"providers/nous", hermes.DocSharedNous, hermes.DocAnthropicOAuth, "profiles/work/providers/openai-codex"} {
		if c.Records[k] == nil {
			t.Errorf("vault lacks %s (have %v)", k, c.Keys())
		}
		if !res.Present[k] {
			t.Errorf("result does not list %s as present", k)
		}
	}
	scan(t, f.root.Root, canaryNous, canaryShared, canaryAnth, canaryProf)
	if _, err := os.Stat(f.root.SharedNousPath()); !os.IsNotExist(err) {
		t.Errorf("shared nous store still there: %v", err)
	}

	// Materialise brings every document back together.
	present, restored, err := r.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 4 || len(present) != 4 {
		t.Errorf("restored %v, present %v: want 4 each", restored, present)
	}
	for p, c := range map[string]string{f.root.AuthPath(): canaryNous, f.root.SharedNousPath(): canaryShared, f.root.AnthropicOAuthPath(): canaryAnth, f.prof.AuthPath(): canaryProf} {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), c) {
			t.Errorf("%s not materialised: %v", p, err)
		}
	}
}

func TestRootMaterialiseKeepsNewerPairTogether(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	// Hermes logged in again meanwhile: the root holds a new Nous block but
	// the shared store is gone. The vault's older shared pair must not come
	// back beside it (Hermes would present its stale refresh token).
	write(t, f.root.AuthPath(), `{"version": 1, "providers": {"nous": {"refresh_token": "NEW-nous"}}}`)
	if _, _, err := r.Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.root.SharedNousPath()); !os.IsNotExist(err) {
		t.Errorf("stale shared nous store materialised beside a newer Nous block")
	}
	b, _ := os.ReadFile(f.root.AuthPath())
	if strings.Contains(string(b), canaryNous) {
		t.Errorf("older Nous block replaced the file's newer one")
	}
}

func TestRootSyncHonoursHermesRemovals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	seen, _, err := r.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Hermes quarantines the Nous login: the block loses its tokens and the
	// shared store is deleted. The marker is still there.
	data, _ := os.ReadFile(f.root.AuthPath())
	doc, err := hermes.ParseDoc(data)
	if err != nil {
		t.Fatal(err)
	}
	doc.Set("providers", []byte(`{"nous": {"last_auth_error": "invalid_grant"}}`))
	if err := hermes.WriteDoc(f.root.AuthPath(), doc); err != nil {
		t.Fatal(err)
	}
	os.Remove(f.root.SharedNousPath())
	res, err := r.Sync(ctx, SyncOptions{Seen: seen})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Removed, ",") != "file/shared/nous_auth.json,providers/nous" {
		t.Errorf("removed %v", res.Removed)
	}
	c, _ := f.v.Read(ctx)
	if c.Records["providers/nous"] != nil || c.Records[hermes.DocSharedNous] != nil {
		t.Errorf("logged-out Nous records still in the vault: %v", c.Keys())
	}
	if c.Records[hermes.DocAnthropicOAuth] == nil {
		t.Errorf("anthropic record lost")
	}

	// A store reset to empty (no marker) is an accident, not a logout; a
	// whole document that vanished without Hermes removing a block of its
	// group from a marked auth.json is no reason either (issue 10 item 4).
	seen2 := res.Present
	write(t, f.root.AuthPath(), `{}`)
	os.Remove(f.root.AnthropicOAuthPath())
	seen2["providers/extra"] = true
	res, err = r.Sync(ctx, SyncOptions{Seen: seen2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 {
		t.Errorf("removed %v: a reset store and a vanished file are no logout", res.Removed)
	}
	c, _ = f.v.Read(ctx)
	if c.Records[hermes.DocAnthropicOAuth] == nil {
		t.Errorf("the vanished .anthropic_oauth.json was taken for a logout")
	}
}

// TestRootSyncRetryIsNotALogout: when .anthropic_oauth.json (written by
// Hermes without a lock) changes under a scrub, Sync seals again; by then
// its first attempt has written auth.json's skeleton, and the blocks gone
// from it are ours, not a logout: the retry must not remove them.
func TestRootSyncRetryIsNotALogout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	seen, _, err := r.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	once := true
	testHookBeforeScrub = func() {
		if once {
			once = false
			write(t, f.root.AnthropicOAuthPath(), `{"refreshToken": "`+canaryAnth+`-rotated"}`)
		}
	}
	defer func() { testHookBeforeScrub = nil }()
	res, err := r.Sync(ctx, SyncOptions{Scrub: true, Seen: seen})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 {
		t.Fatalf("the retry read its own scrub as a logout and removed %v", res.Removed)
	}
	c, _ := f.v.Read(ctx)
	for _, k := range []string{"providers/nous", hermes.DocSharedNous, hermes.DocAnthropicOAuth} {
		if c.Records[k] == nil {
			t.Errorf("%s lost", k)
		}
	}
	if !strings.Contains(string(c.Records[hermes.DocAnthropicOAuth].Value), "-rotated") {
		t.Error("the rotated .anthropic_oauth.json was not sealed by the retry")
	}
	scan(t, f.root.Root, canaryNous, canaryShared, canaryAnth)
}

// copyHome copies broker/hermes/testdata/home (a root with a profile whose
// Codex login lives at the root, the shared Nous store and
// .anthropic_oauth.json) into a temp dir.
func copyHome(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "broker", "hermes", "testdata", "home")
	dst := filepath.Join(t.TempDir(), "home")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func testdataRoot(t *testing.T) (*Root, []string, *broker.Vault, *backends.Fake) {
	t.Helper()
	dir := copyHome(t)
	root, err := hermes.Resolve(iox.MapEnv(map[string]string{"HERMES_HOME": dir}), runtime.GOOS, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	homes, err := root.Profiles()
	if err != nil || len(homes) != 2 {
		t.Fatalf("profiles %v %v", homes, err)
	}
	b, f := backends.NewFake(4096)
	v, _, err := broker.Create(context.Background(), filepath.Join(dir, broker.DirName), b, broker.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{homes[0].AuthPath(), homes[1].AuthPath(), root.SharedNousPath(), root.AnthropicOAuthPath()}
	return NewRoot(homes, v, time.Now), docs, v, f
}

// TestRootRoundTripBytes: sealing the testdata root and unsealing it gives
// every document back byte for byte; a second seal finds nothing and
// writes nothing.
func TestRootRoundTripBytes(t *testing.T) {
	r, docs, _, _ := testdataRoot(t)
	ctx := context.Background()
	before := map[string][]byte{}
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = b
	}
	res, err := r.Sync(ctx, SyncOptions{Scrub: true})
	if err != nil || len(res.Sealed) == 0 {
		t.Fatalf("seal: %v %v", res, err)
	}
	for _, p := range docs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "CANARY") {
			t.Errorf("%s still holds a secret after the seal", p)
		}
	}
	st1, _ := os.Stat(docs[0])
	res, err = r.Sync(ctx, SyncOptions{Scrub: true})
	if err != nil || len(res.Sealed) != 0 || res.Wrote {
		t.Fatalf("a second seal: %v %v", res, err)
	}
	if st2, _ := os.Stat(docs[0]); !os.SameFile(st1, st2) {
		t.Error("a second seal rewrote auth.json")
	}
	if _, err := r.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range docs {
		if b, _ := os.ReadFile(p); string(b) != string(before[p]) {
			t.Errorf("%s differs after seal and unseal", p)
		}
	}
}

// TestRootVaultFailureChangesNothing: when the vault cannot be written
// (its key holder fails), no document is changed.
func TestRootVaultFailureChangesNothing(t *testing.T) {
	r, docs, v, f := testdataRoot(t)
	before := map[string]string{}
	for _, p := range docs {
		b, _ := os.ReadFile(p)
		before[p] = string(b)
	}
	fresh, err := broker.Open(v.Dir, v.Backend) // no identity cached
	if err != nil {
		t.Fatal(err)
	}
	f.Err = errors.New("keychain unavailable")
	r.Vault = fresh
	if _, err := r.Sync(context.Background(), SyncOptions{Scrub: true}); err == nil {
		t.Fatal("seal succeeded without its vault")
	}
	for _, p := range docs {
		if b, _ := os.ReadFile(p); string(b) != before[p] {
			t.Errorf("%s changed although the vault write failed", p)
		}
	}
}
