package migrate

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// sealAll seals the fixture's root and work profile and returns the vault's
// keys.
func sealAll(t *testing.T, f *fixture) {
	t.Helper()
	r := NewRoot([]hermes.Home{f.root, f.prof}, f.v, time.Now)
	if _, err := r.Sync(context.Background(), SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
}

func homesOf(t *testing.T, h hermes.Home) []hermes.Home {
	t.Helper()
	hs, err := h.RootHome().Profiles()
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func keysUnder(c *broker.Contents, scope string) []string {
	var out []string
	for _, k := range c.Keys() {
		if rest, ok := strings.CutPrefix(k, scope); ok && (scope != "" || !strings.HasPrefix(rest, "profiles/")) {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}

func markerLabel(t *testing.T, path string) string {
	t.Helper()
	doc, err := hermes.ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := hermes.MarkerProfile(doc)
	return l
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v); it must not", p, err)
	}
}

// TestSkeletonMarkerNamesItsHome: every sealed skeleton says which home it
// was sealed for; it is what makes a rename or clone recognisable.
func TestSkeletonMarkerNamesItsHome(t *testing.T) {
	f := newFixture(t)
	sealAll(t, f)
	if got := markerLabel(t, f.root.AuthPath()); got != "default" {
		t.Errorf("root marker names %q, want default", got)
	}
	if got := markerLabel(t, f.prof.AuthPath()); got != "work" {
		t.Errorf("profile marker names %q, want work", got)
	}
}

// TestProfileRenameMovesRecords: `hermes profile rename work work2` moves
// the directory, skeleton included; the next sync over the root's homes
// moves work's records to work2 in one vault write, and nothing recreates
// profiles/work.
func TestProfileRenameMovesRecords(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	before, _ := f.v.Read(ctx)
	want := keysUnder(before, "profiles/work/")
	if len(want) == 0 {
		t.Fatal("fixture sealed nothing for work")
	}
	work2 := filepath.Join(f.root.Root, hermes.ProfilesDir, "work2")
	if err := os.Rename(f.prof.Dir, work2); err != nil {
		t.Fatal(err)
	}
	// A run that listed the homes before the rename still holds work: it
	// must neither lock nor recreate it.
	stale := NewRoot([]hermes.Home{f.root, f.prof}, f.v, time.Now)
	if _, err := stale.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, f.prof.Dir)

	r := NewRoot(homesOf(t, f.root), f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, f.prof.Dir)
	c, _ := f.v.Read(ctx)
	if got := keysUnder(c, "profiles/work/"); len(got) != 0 {
		t.Errorf("records still under the old name: %v", got)
	}
	if got := keysUnder(c, "profiles/work2/"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("work2 holds %v, want %v", got, want)
	}
	if c.Generation != before.Generation+1 {
		t.Errorf("generation %d -> %d: want one vault write for the move", before.Generation, c.Generation)
	}
	h2, _ := f.root.WithProfile("work2")
	if got := markerLabel(t, h2.AuthPath()); got != "work2" {
		t.Errorf("work2's marker names %q after the move", got)
	}
	// And run -p work2 gets them back.
	if _, _, err := NewRoot([]hermes.Home{h2, f.root}, f.v, time.Now).Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(h2.AuthPath())
	if !strings.Contains(string(b), canaryProf) {
		t.Errorf("work2 was not materialised with work's login")
	}
	mustNotExist(t, f.prof.Dir)
}

// TestProfileRenameSettledByMaterialise: a rename made outside any run is
// carried out by the next materialise (run -p work2, unmigrate) too.
func TestProfileRenameSettledByMaterialise(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	h2, _ := f.root.WithProfile("work2")
	if err := os.Rename(f.prof.Dir, h2.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRoot([]hermes.Home{h2, f.root}, f.v, time.Now).Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(h2.AuthPath())
	if !strings.Contains(string(b), canaryProf) {
		t.Errorf("unmigrate of the renamed profile did not restore its login")
	}
	mustNotExist(t, f.prof.Dir)
}

// TestDeletedProfileStaysDeleted: after `hermes profile delete work`, no
// operation of a Root that still lists work (seal, materialise, unseal)
// recreates its directory or lock, and its records stay in the vault,
// orphaned, untouched.
func TestDeletedProfileStaysDeleted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	before, _ := f.v.Read(ctx)
	if err := os.RemoveAll(f.prof.Dir); err != nil {
		t.Fatal(err)
	}
	r := NewRoot([]hermes.Home{f.root, f.prof}, f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true, Seen: map[string]bool{"profiles/work/providers/openai-codex": true}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx, SyncOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, f.prof.Dir)
	c, _ := f.v.Read(ctx)
	if got, want := keysUnder(c, "profiles/work/"), keysUnder(before, "profiles/work/"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("orphaned records changed: %v, want %v", got, want)
	}
	// Orphans reports them; Forget is the only way out.
	orph := Orphans(c, f.root, homesOf(t, f.root), f.v.ID())
	if len(orph) != 1 || orph[0].Profile != "work" || orph[0].MovedTo != "" || len(orph[0].Records) == 0 {
		t.Fatalf("orphans %+v", orph)
	}
	dry, err := Forget(ctx, f.v, f.root, homesOf(t, f.root), "work", true)
	if err != nil || len(dry) != len(orph[0].Records) {
		t.Fatalf("dry forget: %v %v", dry, err)
	}
	if c2, _ := f.v.Read(ctx); c2.Generation != c.Generation {
		t.Error("a dry forget wrote the vault")
	}
	gone, err := Forget(ctx, f.v, f.root, homesOf(t, f.root), "work", false)
	if err != nil || len(gone) != len(orph[0].Records) {
		t.Fatalf("forget: %v %v", gone, err)
	}
	c, _ = f.v.Read(ctx)
	if got := keysUnder(c, "profiles/work/"); len(got) != 0 {
		t.Errorf("forget left %v", got)
	}
	if c.Records["providers/nous"] == nil {
		t.Error("forget touched the root's records")
	}
	mustNotExist(t, f.prof.Dir)
}

// TestForgetRefusesLiveAndMovedProfiles: Forget removes only orphans.
func TestForgetRefusesLiveAndMovedProfiles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	if _, err := Forget(ctx, f.v, f.root, homesOf(t, f.root), "work", false); !errors.Is(err, ErrProfileExists) {
		t.Errorf("forget of an existing profile: %v", err)
	}
	if _, err := Forget(ctx, f.v, f.root, homesOf(t, f.root), "", false); !errors.Is(err, ErrForgetRoot) {
		t.Errorf("forget of the root: %v", err)
	}
	h2, _ := f.root.WithProfile("work2")
	if err := os.Rename(f.prof.Dir, h2.Dir); err != nil {
		t.Fatal(err)
	}
	c, _ := f.v.Read(ctx)
	orph := Orphans(c, f.root, homesOf(t, f.root), f.v.ID())
	if len(orph) != 1 || orph[0].MovedTo != "work2" {
		t.Fatalf("a renamed profile's records are not reported as moved: %+v", orph)
	}
	if _, err := Forget(ctx, f.v, f.root, homesOf(t, f.root), "work", false); !errors.Is(err, ErrProfileMoved) {
		t.Errorf("forget of renamed records: %v", err)
	}
	c2, _ := f.v.Read(ctx)
	if c2.Generation != c.Generation {
		t.Error("a refused forget wrote the vault")
	}
}

// copyTree copies src into dst as shutil.copytree does (files and dirs).
func copyTree(t *testing.T, src, dst string, skip func(rel string) bool) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel != "." && skip(rel) {
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
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
}

// cloneAll does what `hermes profile create NAME --clone-all` does to the
// root: a copy of everything but profiles/ (hermes-keys/ and shared/
// included).
func cloneAll(t *testing.T, root hermes.Home, name string) hermes.Home {
	t.Helper()
	h, err := root.WithProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, root.Root, h.Dir, func(rel string) bool { return rel == hermes.ProfilesDir || strings.HasSuffix(rel, ".tmp") })
	return h
}

// TestCloneUnderRunIsSealedAsItsOwn: a clone-all of the materialised root
// (under a run) copies the plaintext auth.json, .anthropic_oauth.json and
// shared/nous_auth.json. The final scrub over the root's homes, listed
// again, seals the clone's blocks as its own, scrubs them, removes the
// dead copy of the shared store, and leaves the root's records alone.
func TestCloneUnderRunIsSealedAsItsOwn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	run := NewRoot([]hermes.Home{f.root}, f.v, time.Now)
	if _, _, err := run.Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := f.v.Read(ctx)
	p2 := cloneAll(t, f.root, "p2")
	if _, err := os.Stat(SharedCopyPath(p2)); err != nil {
		t.Fatalf("the clone has no copy of the shared store: %v", err)
	}
	if got := copyKinds(p2); got != "vault-copy,clone" {
		t.Errorf("copies found in the clone: %s, want vault-copy,clone", got)
	}
	if _, err := NewRoot(homesOf(t, f.root), f.v, time.Now).Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	scan(t, f.root.Root, canaryNous, canaryShared, canaryAnth, canaryProf)
	mustNotExist(t, SharedCopyPath(p2))
	// The copied vault directory is never used; it stays listed until the
	// user removes it.
	if got := copyKinds(p2); got != "vault-copy" {
		t.Errorf("copies left in the clone: %s, want vault-copy", got)
	}
	if hermes.VaultDirName != broker.DirName {
		t.Errorf("hermes.VaultDirName %q != broker.DirName %q", hermes.VaultDirName, broker.DirName)
	}
	c, _ := f.v.Read(ctx)
	if got, want := keysUnder(c, ""), keysUnder(before, ""); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("root records %v, want %v", got, want)
	}
	got := strings.Join(keysUnder(c, "profiles/p2/"), ",")
	if got != "file/.anthropic_oauth.json,providers/nous" {
		t.Errorf("p2 holds %s", got)
	}
	if l := markerLabel(t, p2.AuthPath()); l != "p2" {
		t.Errorf("p2's marker names %q", l)
	}
	// run -p p2 gets the clone's own login back.
	if _, _, err := NewRoot([]hermes.Home{p2, f.root}, f.v, time.Now).Materialise(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p2.AuthPath())
	if !strings.Contains(string(b), canaryNous) {
		t.Error("p2 was not materialised with its cloned login")
	}
}

// TestCloneOfSkeletonCopiesRecordsOnce: a clone-all made outside a run
// copies the sealed skeleton only; the clone gets a copy of the source's
// records (Hermes's own clone would have had the credentials), once: a
// record Hermes later removes from the clone is not copied again.
func TestCloneOfSkeletonCopiesRecordsOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	p3, _ := f.root.WithProfile("p3")
	copyTree(t, f.prof.Dir, p3.Dir, func(string) bool { return false })
	r := NewRoot(homesOf(t, f.root), f.v, time.Now)
	if _, err := r.Sync(ctx, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.v.Read(ctx)
	if got := strings.Join(keysUnder(c, "profiles/p3/"), ","); got != "providers/openai-codex" {
		t.Fatalf("p3 holds %q", got)
	}
	if got := keysUnder(c, "profiles/work/"); len(got) != 1 {
		t.Errorf("the source lost its records: %v", got)
	}
	if _, err := f.v.Update(ctx, func(c *broker.Contents) (bool, error) {
		delete(c.Records, "profiles/p3/providers/openai-codex")
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx, SyncOptions{Scrub: true}); err != nil {
		t.Fatal(err)
	}
	c, _ = f.v.Read(ctx)
	if c.Records["profiles/p3/providers/openai-codex"] != nil {
		t.Error("the clone's records were copied a second time")
	}
}

// TestLegacyMarkerIsStampedNotMoved: a skeleton sealed before markers named
// their home moves nothing, and is stamped with its own home.
func TestLegacyMarkerIsStampedNotMoved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sealAll(t, f)
	doc, _ := hermes.ReadDoc(f.prof.AuthPath())
	m, _ := doc.Get(hermes.MarkerKey)
	o, _ := hermes.ParseObject(m)
	o.Delete("profile")
	raw, _ := o.MarshalJSON()
	doc.Set(hermes.MarkerKey, raw)
	if err := hermes.WriteDoc(f.prof.AuthPath(), doc); err != nil {
		t.Fatal(err)
	}
	before, _ := f.v.Read(ctx)
	if _, err := NewRoot(homesOf(t, f.root), f.v, time.Now).Sync(ctx, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.v.Read(ctx)
	if c.Generation != before.Generation {
		t.Error("a legacy marker caused a vault write")
	}
	if l := markerLabel(t, f.prof.AuthPath()); l != "work" {
		t.Errorf("legacy marker stamped %q", l)
	}
}

func copyKinds(h hermes.Home) string {
	var ks []string
	for _, c := range hermes.ScanCopies(h) {
		ks = append(ks, string(c.Kind))
	}
	return strings.Join(ks, ",")
}
