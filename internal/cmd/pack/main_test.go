package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const epoch = "1764806400"

// tree makes a release-like directory whose files carry the given mtime and
// modes, to show that neither reaches the archive.
func tree(t *testing.T, mtime time.Time, exe os.FileMode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hermes-keys_1.0.0_linux_amd64")
	files := map[string]string{"hermes-keys": "binary", "README.md": "readme", "completions/_hermes-keys": "zsh", "man/man1/hermes-keys.1": ".TH"}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o600)
		if name == "hermes-keys" {
			mode = exe
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chtimes(p, mtime, mtime)
	}
	return dir
}

func pack(t *testing.T, kind, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out."+kind)
	if err := run([]string{kind, out, dir}, epoch); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReproducible(t *testing.T) {
	for _, kind := range []string{"tar.gz", "zip"} {
		t.Run(kind, func(t *testing.T) {
			a := pack(t, kind, tree(t, time.Unix(1000, 0), 0o700))
			b := pack(t, kind, tree(t, time.Now(), 0o775))
			if !bytes.Equal(a, b) {
				t.Fatal("the same files with other mtimes and modes gave different archives")
			}
		})
	}
}

func TestTarHeaders(t *testing.T) {
	gz, err := gzip.NewReader(bytes.NewReader(pack(t, "tar.gz", tree(t, time.Now(), 0o700))))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, time %v", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.ModTime.Unix() != 1764806400 {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		want := int64(0o644)
		if h.Typeflag == tar.TypeDir || strings.HasSuffix(h.Name, "/hermes-keys") {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
	got := strings.Join(names, " ")
	want := "hermes-keys_1.0.0_linux_amd64/ hermes-keys_1.0.0_linux_amd64/README.md hermes-keys_1.0.0_linux_amd64/completions/ hermes-keys_1.0.0_linux_amd64/completions/_hermes-keys hermes-keys_1.0.0_linux_amd64/hermes-keys hermes-keys_1.0.0_linux_amd64/man/ hermes-keys_1.0.0_linux_amd64/man/man1/ hermes-keys_1.0.0_linux_amd64/man/man1/hermes-keys.1"
	if got != want {
		t.Errorf("entries:\n%s\nwant\n%s", got, want)
	}
}

func TestZipHeaders(t *testing.T) {
	data := pack(t, "zip", tree(t, time.Now(), 0o700))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if !f.Modified.Equal(time.Unix(1764806400, 0)) {
			t.Errorf("%s: modified %v", f.Name, f.Modified)
		}
		if strings.HasSuffix(f.Name, "/hermes-keys") && f.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v", f.Name, f.Mode())
		}
	}
}

func TestRefuses(t *testing.T) {
	dir := tree(t, time.Now(), 0o755)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "x.tar.gz")
	if err := run([]string{"tar.gz", out, dir}, epoch); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlink in the tree: err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused run left %s", out)
	}
	if err := run([]string{"tar.gz", out, tree(t, time.Now(), 0o755)}, ""); err == nil {
		t.Error("no SOURCE_DATE_EPOCH: want an error, not the clock")
	}
}
