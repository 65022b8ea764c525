//go:build unix

package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// links builds a directory with a link to a file, a dangling link and a
// plain file.
func links(t *testing.T) (dir, target string) {
	dir = t.TempDir()
	outside := t.TempDir()
	target = filepath.Join(outside, "target")
	if err := os.WriteFile(target, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(target, filepath.Join(dir, "link")))
	must(t, os.Symlink(filepath.Join(outside, "new"), filepath.Join(dir, "dangling")))
	must(t, os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o600))
	return dir, target
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func checkNoFollow(t *testing.T) {
	dir, target := links(t)
	for _, name := range []string{"link", "dangling"} {
		f, err := OpenNoFollow(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if !errors.Is(err, ErrSymlink) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: %v, want ErrSymlink", name, err)
		}
		f, err = OpenNoFollow(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, ErrSymlink) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s with O_EXCL: %v, want ErrSymlink", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(target), "new")); err == nil {
		t.Error("a file was created through the dangling link")
	}
	if b, _ := os.ReadFile(target); string(b) != "outside" {
		t.Errorf("the link's target changed: %q", b)
	}
	f, err := OpenNoFollow(filepath.Join(dir, "plain"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = OpenNoFollow(filepath.Join(dir, "fresh"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestOpenNoFollowRefusesLinks(t *testing.T) { checkNoFollow(t) }

func TestCheckDirRefusesLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	must(t, os.Mkdir(real, 0o700))
	must(t, os.Symlink(real, filepath.Join(dir, "hermes-keys")))
	if err := CheckDir(filepath.Join(dir, "hermes-keys")); !errors.Is(err, ErrSymlink) {
		t.Fatalf("CheckDir of a link: %v", err)
	}
	if err := CheckDir(real); err != nil {
		t.Fatalf("CheckDir of our own directory: %v", err)
	}
	if err := CheckDir(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("CheckDir of a missing directory: %v", err)
	}
}

func TestCheckOwnerOfAnotherUID(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: a file of another uid needs chown")
		}
		t.Skip("SKIPPED: giving a file to another uid needs root")
	}
	dir, target := links(t)
	must(t, os.Chown(target, 65534, 65534))
	for _, p := range []string{target, filepath.Join(dir, "link")} {
		var fe *ForeignOwnerError
		if err := CheckOwner(p); !errors.Is(err, ErrForeignOwner) || !errors.As(err, &fe) || fe.UID != 65534 {
			t.Errorf("CheckOwner(%s): %v", p, err)
		}
	}
	if err := CheckLink(filepath.Join(dir, "link")); !errors.Is(err, ErrForeignOwner) {
		t.Errorf("CheckLink to another's file: %v", err)
	}
	// A dangling link is judged by the directory it points into.
	must(t, os.Chown(filepath.Dir(target), 65534, 65534))
	if err := CheckLink(filepath.Join(dir, "dangling")); !errors.Is(err, ErrForeignOwner) {
		t.Errorf("CheckLink of a dangling link into another's directory: %v", err)
	}
	if err := CheckLink(filepath.Join(dir, "plain")); err != nil {
		t.Errorf("CheckLink of a plain file: %v", err)
	}
	if err := CheckDir(filepath.Dir(target)); !errors.Is(err, ErrForeignOwner) {
		t.Errorf("CheckDir of another's directory: %v", err)
	}
}
