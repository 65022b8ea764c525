package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/asuser"
)

func TestWriteFileReplacesAndKeepsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
	} else {
		link = real
	}
	if err := WriteFile(link, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
			t.Fatal("symlink replaced by a file")
		}
		if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %o, want 600", fi.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 && runtime.GOOS != "windows" {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestWriteDanglingLinkWritesThrough(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "store"), 0o700)
	link := filepath.Join(dir, "auth.json")
	if err := os.Symlink("store/real.json", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the dangling link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "store", "real.json")); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
}

func TestWriteRefusesNonRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vault.json")
	os.Mkdir(p, 0o700)
	err := WriteFile(p, []byte("x"), 0o600)
	var nr *NotRegularError
	if !errors.Is(err, ErrNotRegular) || !errors.As(err, &nr) || !nr.Mode.IsDir() {
		t.Fatalf("writing over a directory: %v", err)
	}
	if err := CheckWritable(p, nil); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("CheckWritable of a directory: %v", err)
	}
}

func TestWriteHooksAndTempName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth.json")
	var global, own []string
	Hook = func(s string) { global = append(global, s) }
	defer func() { Hook = nil }()
	if err := WriteFile(p, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{StepTempCreated, StepTempWritten, StepTempSynced, StepRenamed}
	if !reflect.DeepEqual(global, want) {
		t.Fatalf("package hook saw %v", global)
	}
	global = nil
	var temps []string
	o := Options{
		Hook: func(s string) {
			own = append(own, s)
			if s == StepTempCreated {
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					temps = append(temps, e.Name())
				}
			}
		},
		TempName: func(base string) string { return base + ".tmp.test" },
	}
	if err := Write(p, []byte("b"), o); err != nil {
		t.Fatal(err)
	}
	if len(global) != 0 || !reflect.DeepEqual(own, want) {
		t.Fatalf("own hook saw %v, package hook %v", own, global)
	}
	if !reflect.DeepEqual(temps, []string{"auth.json", "auth.json.tmp.test"}) {
		t.Fatalf("directory during the write: %v", temps)
	}
}

func TestWriteErrorLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	// A temp name that already exists: O_EXCL refuses it, nothing changes.
	os.WriteFile(filepath.Join(dir, "taken"), nil, 0o600)
	err := Write(p, []byte("new"), Options{TempName: func(string) string { return "taken" }})
	if err == nil {
		t.Fatal("O_EXCL did not refuse an existing temp name")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("file changed: %q", b)
	}
	os.Remove(filepath.Join(dir, "taken"))

	// A failure after the temp file is written and synced: the rename
	// fails because a non-empty directory took the file's place. The temp
	// file, which exists by then (checked), must be gone afterwards.
	var sawTemp bool
	err = Write(p, []byte("new"), Options{Hook: func(step string) {
		if step != StepTempSynced {
			return
		}
		ents, _ := os.ReadDir(dir)
		sawTemp = len(ents) == 2
		os.Remove(p)
		os.MkdirAll(filepath.Join(p, "x"), 0o700)
	}})
	if err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	if !sawTemp {
		t.Fatal("the temp file did not exist when the rename was tried")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "f" {
		t.Fatalf("a temp file was left behind: %v", ents)
	}
}

// After the rename the write has happened: a failing directory fsync does
// not turn it into an error (issue 10 item 14).
func TestWriteDirSyncFailureAfterRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	syncDir = func(string) error { return errors.New("fsync dir: input/output error") }
	defer func() { syncDir = SyncDir }()
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatalf("a write whose rename happened reported %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
}

func TestWriteDirPerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	home := filepath.Join(t.TempDir(), "home")
	os.Mkdir(home, 0o755)
	p := filepath.Join(home, "auth.json")
	if err := Write(p, []byte("{}"), Options{DirPerm: 0o700}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o, want 700", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %o, want 600", fi.Mode().Perm())
	}
	q := filepath.Join(home, "shared", "new", "nous_auth.json")
	if err := Write(q, []byte("{}"), Options{DirPerm: 0o700}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Dir(q)); fi.Mode().Perm() != 0o700 {
		t.Errorf("new dir mode %o, want 700", fi.Mode().Perm())
	}
	// Tightening never adds bits: a directory made read-only stays so.
	ro := filepath.Join(home, "ro")
	os.Mkdir(ro, 0o755)
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o700)
	Write(filepath.Join(ro, "f"), nil, Options{DirPerm: 0o700})
	if fi, _ := os.Stat(ro); fi.Mode().Perm() != 0o500 {
		t.Errorf("read-only dir mode %o, want 500", fi.Mode().Perm())
	}
	// Without DirPerm, a missing directory is an error, not created.
	if err := WriteFile(filepath.Join(home, "nope", "f"), nil, 0o600); err == nil {
		t.Error("WriteFile created a directory")
	}
}

// A read-only file in a writable directory is replaced, as rename(2)
// replaces it, and ends at the requested mode.
func TestWriteReplacesReadOnlyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth.json")
	os.WriteFile(p, []byte("old"), 0o400)
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", fi.Mode().Perm())
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auth.json")
	os.WriteFile(p, []byte("old"), 0o600)
	for _, q := range []string{p, filepath.Join(dir, "missing"), filepath.Join(dir, "a", "b", "c")} {
		if err := CheckWritable(q, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the probe left files: %v", ents)
	}
	// Root writes anywhere: as root, this part runs again as nobody.
	if runtime.GOOS == "windows" || !asuser.Unprivileged(t) {
		return
	}
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o700)
	os.WriteFile(filepath.Join(ro, "auth.json"), []byte("old"), 0o600)
	os.Chmod(ro, 0o500)
	defer os.Chmod(ro, 0o700)
	for _, q := range []string{filepath.Join(ro, "auth.json"), filepath.Join(ro, "new", "f")} {
		err := CheckWritable(q, nil)
		if !errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), ro) {
			t.Errorf("%s: %v", q, err)
		}
	}
	err := WriteFile(filepath.Join(ro, "auth.json"), []byte("new"), 0o600)
	if !errors.Is(err, ErrNotWritable) {
		t.Errorf("write in a read-only directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "auth.json")); string(b) != "old" {
		t.Errorf("file changed: %q", b)
	}
}

// Root following a link a user planted (shared -> /opt/x) must not
// tighten a directory that is not its own (issue 10 item 3).
func TestWriteDirPermSparesAnothersDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: a directory of another uid needs chown")
		}
		t.Skip("SKIPPED: a directory of another uid needs root to make")
	}
	top := t.TempDir()
	sys := filepath.Join(top, "opt-x")
	os.Mkdir(sys, 0o755)
	os.Chmod(sys, 0o755)
	if err := os.Chown(sys, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(top, "home")
	os.Mkdir(home, 0o700)
	if err := os.Symlink(sys, filepath.Join(home, "shared")); err != nil {
		t.Fatal(err)
	}
	Write(filepath.Join(home, "shared", "nous_auth.json"), []byte("{}"), Options{DirPerm: 0o700})
	if fi, _ := os.Stat(sys); fi.Mode().Perm() != 0o755 {
		t.Fatalf("another uid's directory was chmodded to %o", fi.Mode().Perm())
	}
}
