package hermes

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/asuser"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWriteFileProtocol(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	home := filepath.Join(tempDir(t), "home")
	os.MkdirAll(home, 0o755)
	p := filepath.Join(home, "auth.json")
	os.WriteFile(p, []byte("old"), 0o644)
	if err := WriteFile(p, []byte(`{"version": 1}`)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != `{"version": 1}` {
		t.Fatalf("content %q", b)
	}
	if m := mode(t, p); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	if m := mode(t, home); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	ents, _ := os.ReadDir(home)
	if len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
	// A new file in a new directory.
	q := filepath.Join(home, "shared", "nous_auth.json")
	if err := WriteFile(q, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if mode(t, q) != 0o600 || mode(t, filepath.Dir(q)) != 0o700 {
		t.Errorf("new file %o in dir %o", mode(t, q), mode(t, filepath.Dir(q)))
	}
}

func TestWriteFileKeepsSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := tempDir(t)
	store := filepath.Join(dir, "dotfiles")
	os.Mkdir(store, 0o700)
	real := filepath.Join(store, "hermes-auth.json")
	os.WriteFile(real, []byte(`{}`), 0o600)
	link := filepath.Join(dir, "auth.json")
	os.Symlink("dotfiles/hermes-auth.json", link) // relative link
	if err := WriteFile(link, []byte(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced by a file: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(real); string(b) != `{"a": 1}` {
		t.Fatalf("target holds %q", b)
	}
	// Temp files go beside the target, not the link.
	if ents, _ := os.ReadDir(store); len(ents) != 1 {
		t.Fatalf("temp files left beside the target: %v", ents)
	}
	// A dangling link is written through to where it points.
	os.Remove(real)
	if err := WriteFile(link, []byte(`{"b": 2}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(real); string(b) != `{"b": 2}` {
		t.Fatalf("dangling link: target holds %q", b)
	}
}

func TestWriteFileRefusesDirectoryTarget(t *testing.T) {
	p := filepath.Join(tempDir(t), "auth.json")
	os.Mkdir(p, 0o700)
	if err := WriteFile(p, []byte(`{}`)); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("writing over a directory: %v", err)
	}
}

// TestWriteFileReadOnlyStore: an auth.json left read-only (0400) in a
// writable home is replaced as Hermes's rename replaces it, and ends at
// 0600 like every store we write.
func TestWriteFileReadOnlyStore(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "auth.json")
	os.WriteFile(p, []byte(`{"version": 1}`), 0o400)
	if err := WriteFile(p, []byte(`{"version": 1, "a": 1}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"version": 1, "a": 1}` {
		t.Fatalf("content %q", b)
	}
	if runtime.GOOS != "windows" && mode(t, p) != 0o600 {
		t.Fatalf("mode %o, want 600", mode(t, p))
	}
}

// TestWriteFileUnwritableHome: a home that refuses new files fails with
// ErrNotWritable and a hint, before anything changes, and CheckWritable
// says so in advance. Root writes anywhere, so under root the test runs
// again as nobody (internal/asuser).
func TestWriteFileUnwritableHome(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "auth.json")
	os.WriteFile(p, []byte(`{}`), 0o600)
	if err := CheckWritable(p); err != nil {
		t.Fatalf("writable home: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the probe left files: %v", ents)
	}
	// Root writes anywhere: as root, this part runs again as nobody.
	if runtime.GOOS == "windows" || !asuser.Unprivileged(t) {
		return
	}
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	for name, err := range map[string]error{"CheckWritable": CheckWritable(p), "WriteFile": WriteFile(p, []byte(`{"a": 1}`))} {
		if !errors.Is(err, ErrNotWritable) || xerr.Hint(err) == "" || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v (hint %q)", name, err, xerr.Hint(err))
		}
	}
	if b, _ := os.ReadFile(p); string(b) != `{}` {
		t.Fatalf("store changed: %s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if m := mode(t, dir); m != 0o500 {
		t.Fatalf("home mode %o: a read-only home must stay read-only", m)
	}
}

func TestTempNames(t *testing.T) {
	for base, re := range map[string]string{
		"auth.json":             `auth.json.tmp.`,
		".env":                  `.env_`,
		"nous_auth.json":        `nous_auth.json.tmp.`,
		".anthropic_oauth.json": `.anthropic_oauth.json.tmp.`,
	} {
		n := tempName(base)
		if !strings.HasPrefix(n, re) || n == tempName(base) {
			t.Errorf("%s: temp name %s", base, n)
		}
		matched := false
		for _, p := range append(tempPatterns, sharedTempPatterns...) {
			matched = matched || p.MatchString(n)
		}
		if !matched {
			t.Errorf("%s: ScanCopies would not find %s", base, n)
		}
	}
}

func TestUpdate(t *testing.T) {
	dir := tempDir(t)
	auth := filepath.Join(dir, "auth.json")
	lock := filepath.Join(dir, "auth.lock")
	ctx := context.Background()
	orig := "{\n  \"version\": 1,\n  \"zzz_unknown\": {\"b\": 1, \"a\": 2},\n  \"providers\": {}\n}\n"
	os.WriteFile(auth, []byte(orig), 0o600)

	// No change: nothing is written.
	before, _ := os.Stat(auth)
	if err := Update(ctx, auth, lock, func(*Object) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(auth)
	if !os.SameFile(before, after) {
		t.Error("an unchanged document was rewritten")
	}

	// An error: nothing is written.
	boom := errors.New("boom")
	err := Update(ctx, auth, lock, func(d *Object) (bool, error) {
		d.Set("active_provider", json.RawMessage(`"nous"`))
		return true, boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(auth); string(b) != orig {
		t.Fatalf("failed update changed the file: %s", b)
	}

	// A change keeps unknown members in order and the writer's style.
	if err := Update(ctx, auth, lock, func(d *Object) (bool, error) {
		d.Set("active_provider", json.RawMessage(`"nous"`))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(auth)
	want := "{\n  \"version\": 1,\n  \"zzz_unknown\": {\n    \"b\": 1,\n    \"a\": 2\n  },\n  \"providers\": {},\n  \"active_provider\": \"nous\"\n}\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}

	// A corrupt store is not replaced.
	os.WriteFile(auth, []byte(`{"version": 1, "provi`), 0o600)
	err = Update(ctx, auth, lock, func(d *Object) (bool, error) { return true, nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("update of a corrupt store: %v", err)
	}
	if b, _ := os.ReadFile(auth); string(b) != `{"version": 1, "provi` {
		t.Fatal("the corrupt store was overwritten")
	}

	// A missing store is created.
	os.Remove(auth)
	if err := Update(ctx, auth, lock, func(d *Object) (bool, error) {
		d.Set("version", json.RawMessage(`1`))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(auth); string(b) != "{\n  \"version\": 1\n}" {
		t.Fatalf("new store %q", b)
	}
}
