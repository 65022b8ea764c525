package migrate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

const (
	canaryEnvRoot  = "sk-or-CANARY-root-env-3a11"
	canaryEnvTG    = "CANARY-telegram-9d0e"
	canaryEnvWork  = "sk-or-CANARY-work-env-6b2c"
	canaryEnvNew   = "sk-or-CANARY-NEW-4e4e"
	canaryEnvAdded = "CANARY-eleven-added-1f1f"
)

const (
	rootEnv = "# my keys\nOPENROUTER_API_KEY=" + canaryEnvRoot + "\nOPENAI_BASE_URL=https://example.invalid/v1  # a comment\n\nexport TELEGRAM_BOT_TOKEN='" + canaryEnvTG + "'\nHERMES_MAX_TURNS=60\n"
	workEnv = "HERMES_MAX_TURNS=5\n\nOPENROUTER_API_KEY=" + canaryEnvWork + "\n# tail comment\n"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func envRecord(t *testing.T, c *broker.Contents, key string) (string, bool) {
	t.Helper()
	r := c.Records[key]
	if r == nil {
		return "", false
	}
	var s string
	if err := json.Unmarshal(r.Value, &s); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return s, true
}

// TestRootEnvRunCycle takes a migrated .env through a profile's run as the
// engine sees it: materialise (the profile's own keys only, none of the
// root's), Hermes's config set and a new key (sealed by the live sync),
// Hermes's auth remove (the record goes), and the final scrub (no secret
// left, every other line byte for byte, this vault's marker on top).
func TestRootEnvRunCycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	write(t, f.root.EnvPath(), rootEnv)
	write(t, f.prof.EnvPath(), workEnv)
	all := NewRoot([]hermes.Home{f.root, f.prof}, f.v, time.Now)
	all.Env = true // migrate --env
	res, err := all.Sync(ctx, SyncOptions{Scrub: true})
	if err != nil {
		t.Fatal(err)
	}
	var sealed []string
	for _, it := range res.Sealed {
		if strings.Contains(it.Key, "env/") {
			sealed = append(sealed, it.Key)
		}
	}
	slices.Sort(sealed)
	if want := []string{"env/OPENROUTER_API_KEY", "env/TELEGRAM_BOT_TOKEN", "profiles/work/env/OPENROUTER_API_KEY"}; !slices.Equal(sealed, want) {
		t.Fatalf("sealed env keys %v, want %v", sealed, want)
	}
	marker := hermes.EnvMarkerLine(f.v.ID()) + "\n"
	rootSkel := marker + "# my keys\nOPENAI_BASE_URL=https://example.invalid/v1  # a comment\n\nHERMES_MAX_TURNS=60\n"
	workSkel := marker + "HERMES_MAX_TURNS=5\n\n# tail comment\n"
	if got := readFile(t, f.root.EnvPath()); got != rootSkel {
		t.Errorf("root .env after the seal:\n%q\nwant\n%q", got, rootSkel)
	}
	if got := readFile(t, f.prof.EnvPath()); got != workSkel {
		t.Errorf("profile .env after the seal:\n%q\nwant\n%q", got, workSkel)
	}
	scan(t, f.root.Root, canaryEnvRoot, canaryEnvTG, canaryEnvWork)

	// A run of the profile: its auth.json and the root's, its .env only.
	mine := NewRoot([]hermes.Home{f.prof, f.root}, f.v, time.Now)
	mine.EnvHome = func(h hermes.Home) bool { return h.Profile == "work" }
	seen, restored, err := mine.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(restored, "profiles/work/env/OPENROUTER_API_KEY") || slices.Contains(restored, "env/TELEGRAM_BOT_TOKEN") {
		t.Errorf("restored %v", restored)
	}
	work := hermes.ParseEnv([]byte(readFile(t, f.prof.EnvPath())))
	if v, _ := work.Lookup("OPENROUTER_API_KEY"); v != canaryEnvWork {
		t.Errorf("profile .env gives OPENROUTER_API_KEY %q, want the profile's own", v)
	}
	if _, ok := work.Lookup("TELEGRAM_BOT_TOKEN"); ok {
		t.Error("the root's TELEGRAM_BOT_TOKEN was materialised into the profile's .env")
	}
	if got := readFile(t, f.root.EnvPath()); got != rootSkel {
		t.Errorf("a profile run materialised the root's .env:\n%q", got)
	}

	// Hermes: config set OPENROUTER_API_KEY (a rewrite of the whole file
	// as save_env_value does it) and a new key from hermes model.
	hermesEnv := strings.Replace(readFile(t, f.prof.EnvPath()), canaryEnvWork, canaryEnvNew, 1) + "ELEVENLABS_API_KEY=" + canaryEnvAdded + "\n"
	write(t, f.prof.EnvPath(), hermesEnv)
	res, err = mine.Sync(ctx, SyncOptions{Seen: seen})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 {
		t.Errorf("removed %v", res.Removed)
	}
	c, _ := f.v.Read(ctx)
	if v, _ := envRecord(t, c, "profiles/work/env/OPENROUTER_API_KEY"); v != canaryEnvNew {
		t.Error("the key Hermes changed in .env was not sealed")
	}
	if v, _ := envRecord(t, c, "profiles/work/env/ELEVENLABS_API_KEY"); v != canaryEnvAdded {
		t.Error("the key Hermes added to .env was not sealed")
	}
	if v, _ := envRecord(t, c, "env/OPENROUTER_API_KEY"); v != canaryEnvRoot {
		t.Error("the root's record changed")
	}

	// Hermes: auth remove openrouter (remove_env_value drops the line).
	var kept []string
	for _, l := range strings.SplitAfter(readFile(t, f.prof.EnvPath()), "\n") {
		if !strings.HasPrefix(l, "OPENROUTER_API_KEY=") {
			kept = append(kept, l)
		}
	}
	write(t, f.prof.EnvPath(), strings.Join(kept, ""))
	res, err = mine.Sync(ctx, SyncOptions{Seen: res.Present})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, []string{"profiles/work/env/OPENROUTER_API_KEY"}) {
		t.Errorf("removed %v, want the key Hermes removed", res.Removed)
	}
	c, _ = f.v.Read(ctx)
	if _, ok := envRecord(t, c, "profiles/work/env/OPENROUTER_API_KEY"); ok {
		t.Error("the key Hermes removed from .env is still in the vault")
	}
	if _, ok := envRecord(t, c, "env/OPENROUTER_API_KEY"); !ok {
		t.Error("the root's key went with the profile's")
	}

	// The last run out scrubs.
	if _, err := all.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f.prof.EnvPath()); got != workSkel {
		t.Errorf("profile .env after the scrub:\n%q\nwant\n%q", got, workSkel)
	}
	scan(t, f.root.Root, canaryEnvRoot, canaryEnvTG, canaryEnvWork, canaryEnvNew, canaryEnvAdded)

	// Unseal: every home's own keys back, the marker gone.
	if _, err := all.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	got := hermes.ParseEnv([]byte(readFile(t, f.prof.EnvPath())))
	if v, _ := got.Lookup("ELEVENLABS_API_KEY"); v != canaryEnvAdded {
		t.Error("unseal did not bring the profile's key back")
	}
	if _, ok := got.Lookup("OPENROUTER_API_KEY"); ok {
		t.Error("unseal brought back the key Hermes removed")
	}
	if got.MarkerVaultID() != "" || strings.Contains(readFile(t, f.root.EnvPath()), "hermes-keys:") {
		t.Error("unseal left the marker")
	}
}

// TestRootEnvRoundTripBytes: materialise then scrub with nothing changed
// gives back the skeleton byte for byte (CRLF, export, quoting, a missing
// final newline), and every value reads back exactly as python-dotenv
// would read it.
func TestRootEnvRoundTripBytes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	odd := `CANARY it's "quoted" \ back#slash`
	put := func(key, val string) {
		b, _ := json.Marshal(val)
		if _, err := f.v.Update(ctx, func(c *broker.Contents) (bool, error) {
			return c.Put(key, broker.KindEnv, b, time.Now()), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("env/OPENROUTER_API_KEY", odd)
	put("env/CUSTOM_SETTING", "CANARY-custom-name") // not secret-shaped: a record makes it one
	skel := "# hermes-keys: secret keys sealed in vault " + f.v.ID() + "; run Hermes with: hermes-keys run -- hermes\r\nA=1\r\nexport B='x y'\r\nC=3"
	write(t, f.root.EnvPath(), skel)
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	if _, _, err := r.Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	ef := hermes.ParseEnv([]byte(readFile(t, f.root.EnvPath())))
	if v, _ := ef.Lookup("OPENROUTER_API_KEY"); v != odd {
		t.Errorf("materialised value reads back as %q", v)
	}
	if v, _ := ef.Lookup("CUSTOM_SETTING"); v != "CANARY-custom-name" {
		t.Errorf("CUSTOM_SETTING reads back as %q", v)
	}
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, f.root.EnvPath())
	// The only change allowed: the final line gained the line ending the
	// appended keys needed.
	if got != skel && got != skel+"\r\n" {
		t.Errorf("scrubbed .env:\n%q\nwant\n%q", got, skel)
	}
	scan(t, f.root.Root, "CANARY it", "CANARY-custom-name")
}

// TestRootEnvOtherVaultMarker: a .env carrying another vault's marker (or
// none) is no witness of Hermes removing a key: nothing is removed.
func TestRootEnvOtherVaultMarker(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	write(t, f.root.EnvPath(), "OPENROUTER_API_KEY="+canaryEnvRoot+"\n")
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	r.Env = true
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	seen, _, err := r.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{
		hermes.EnvMarkerLine("0123456789abcdef-other") + "\n", // another vault's skeleton
		"A=1\n", // no marker at all
	} {
		write(t, f.root.EnvPath(), content)
		res, err := r.Sync(ctx, SyncOptions{Seen: seen})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Removed) != 0 {
			t.Errorf(".env %q: removed %v", content, res.Removed)
		}
	}
	c, _ := f.v.Read(ctx)
	if _, ok := envRecord(t, c, "env/OPENROUTER_API_KEY"); !ok {
		t.Error("the record went")
	}
}

// TestRootAuthOtherVaultMarker: an auth.json holding another vault's
// skeleton lacks every block, and none of that is a logout (issue 10 item 4).
func TestRootAuthOtherVaultMarker(t *testing.T) {
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
	write(t, f.root.AuthPath(), `{"version": 1, "providers": {}, "hermes_keys": {"sealed": true, "vault_id": "someone-elses-vault"}}`)
	res, err := r.Sync(ctx, SyncOptions{Seen: seen})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 {
		t.Errorf("another vault's skeleton removed %v", res.Removed)
	}
	c, _ := f.v.Read(ctx)
	if c.Records["providers/nous"] == nil {
		t.Error("providers/nous lost")
	}
}

// TestRootsSharingNousStore is issue 10 item 4: two roots share
// HERMES_SHARED_AUTH_DIR; a seal of one scrubs the shared file while the
// other runs. The running root's live sync must not take the vanished
// file for Hermes's logout.
func TestRootsSharingNousStore(t *testing.T) {
	ctx := context.Background()
	shared := t.TempDir()
	mk := func() (*Root, hermes.Home, *broker.Vault) {
		dir := t.TempDir()
		env := iox.MapEnv(map[string]string{"HERMES_HOME": dir, "HERMES_SHARED_AUTH_DIR": shared})
		h, err := hermes.Resolve(env, runtime.GOOS, dir, "")
		if err != nil {
			t.Fatal(err)
		}
		write(t, h.AuthPath(), `{"version": 1, "providers": {"nous": {"access_token": "at", "refresh_token": "`+canaryNous+`"}}}`)
		b, _ := backends.NewFake(4096)
		v, _, err := broker.Create(ctx, filepath.Join(dir, broker.DirName), b, broker.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return NewRoot([]hermes.Home{h}, v, time.Now), h, v
	}
	a, ha, va := mk()
	write(t, ha.SharedNousPath(), `{"refresh_token": "`+canaryShared+`"}`)
	if _, err := a.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	b, _, vb := mk()
	// Root A runs: its pair is materialised, the shared file among it.
	live := &Live{Root: a}
	seen, _, err := a.Materialise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !seen[hermes.DocSharedNous] {
		t.Fatalf("the shared store was not materialised: %v", seen)
	}
	live.SetBaseline(seen)
	// Root B seals: it takes the shared file into its own vault and scrubs it.
	if _, err := b.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ha.SharedNousPath()); !os.IsNotExist(err) {
		t.Fatalf("the other root's seal left the shared store (%v): the test does not reproduce the issue", err)
	}
	if c, _ := vb.Read(ctx); c.Records[hermes.DocSharedNous] == nil {
		t.Fatal("root B did not seal the shared store")
	}
	res, err := live.Sync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 {
		t.Errorf("root A's live sync removed %v after root B's seal", res.Removed)
	}
	c, _ := va.Read(ctx)
	if c.Records[hermes.DocSharedNous] == nil {
		t.Error("root B's seal deleted file/shared/nous_auth.json from root A's vault")
	}
}

// TestSealCoversMigratedEnv: seal (no --env) seals and scrubs the .env of a
// home whose .env was migrated (the vault holds env records of it), and
// leaves alone the .env of a home that was never migrated with --env.
func TestSealCoversMigratedEnv(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	write(t, f.root.EnvPath(), "OPENROUTER_API_KEY="+canaryEnvRoot+"\n")
	if _, err := Seal(ctx, []hermes.Home{f.root}, f.v, Options{Env: true}); err != nil {
		t.Fatal(err)
	}
	// Hermes, run on its own, saves a key; a profile never migrated with
	// --env has one in plaintext.
	write(t, f.root.EnvPath(), readFile(t, f.root.EnvPath())+"ELEVENLABS_API_KEY="+canaryEnvAdded+"\n")
	write(t, f.prof.EnvPath(), "OPENROUTER_API_KEY="+canaryEnvWork+"\n")
	rep, err := Seal(ctx, []hermes.Home{f.root, f.prof}, f.v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range rep.Sealed {
		if strings.Contains(it.Key, "env/") {
			keys = append(keys, it.Key)
		}
	}
	if !slices.Equal(keys, []string{"env/ELEVENLABS_API_KEY"}) {
		t.Errorf("seal sealed env keys %v, want the migrated home's new key only", keys)
	}
	if strings.Contains(readFile(t, f.root.EnvPath()), "CANARY") {
		t.Error("seal left the new key in the migrated .env")
	}
	if got := readFile(t, f.prof.EnvPath()); got != "OPENROUTER_API_KEY="+canaryEnvWork+"\n" {
		t.Errorf("seal changed a .env never migrated with --env: %q", got)
	}
}

// TestRootEnvScrubRace: Hermes writes .env without a lock; a key it saves
// between the vault write and the scrub must not be overwritten by the
// skeleton: the scrub replaces .env only if it still holds what was read,
// and seals again.
func TestRootEnvScrubRace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	write(t, f.root.EnvPath(), "OPENROUTER_API_KEY="+canaryEnvRoot+"\nA=1\n")
	r := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	r.Env = true
	once := true
	testHookBeforeScrub = func() {
		if once {
			once = false
			write(t, f.root.EnvPath(), readFile(t, f.root.EnvPath())+"ELEVENLABS_API_KEY="+canaryEnvAdded+"\n")
		}
	}
	defer func() { testHookBeforeScrub = nil }()
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.v.Read(ctx)
	if v, _ := envRecord(t, c, "env/ELEVENLABS_API_KEY"); v != canaryEnvAdded {
		t.Error("the key Hermes saved during the scrub was lost")
	}
	if got := readFile(t, f.root.EnvPath()); got != hermes.EnvMarkerLine(f.v.ID())+"\nA=1\n" {
		t.Errorf(".env after the scrub: %q", got)
	}
}
