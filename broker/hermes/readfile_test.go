package hermes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func TestReadDoc(t *testing.T) {
	dir := tempDir(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		path    func() string
		want    error
		members int
	}{
		{"missing file is the empty store", func() string { return filepath.Join(dir, "nope.json") }, nil, 0},
		{"store", func() string { return write("ok.json", `{"version": 1, "providers": {}}`) }, nil, 2},
		{"bom", func() string { return write("bom.json", "\uFEFF{\"version\": 1}") }, nil, 1},
		{"empty file", func() string { return write("empty.json", "") }, ErrEmpty, 0},
		{"array", func() string { return write("arr.json", "[]") }, ErrNotObject, 0},
		{"truncated", func() string { return write("tr.json", `{"providers": {"nous": {"refresh_token": "CANARY-x`) }, ErrTruncated, 0},
		{"directory", func() string {
			p := filepath.Join(dir, "adir")
			os.Mkdir(p, 0o700)
			return p
		}, ErrNotRegular, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := ReadDoc(c.path())
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), "CANARY") {
					t.Errorf("error repeats content: %v", err)
				}
				if xerr.Hint(err) == "" {
					t.Errorf("no hint on %v", err)
				}
				return
			}
			if len(doc.Members) != c.members {
				t.Fatalf("%d members, want %d", len(doc.Members), c.members)
			}
		})
	}
}

func TestReadDocTooLarge(t *testing.T) {
	// 50 MB of a plausible store: a pool with many entries.
	p := filepath.Join(tempDir(t), "auth.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"version": 1, "credential_pool": {"openrouter": [`)
	entry := `{"id": "abcdef", "label": "k", "auth_type": "api_key", "source": "manual", "access_token": "` + strings.Repeat("x", 900) + `"},`
	for n := 0; n < 50_000_000/len(entry); n++ {
		f.WriteString(entry)
	}
	f.WriteString(`{}]}}`)
	f.Close()
	_, err = ReadDoc(p)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("50 MB file: %v, want ErrTooLarge", err)
	}
	if xerr.Hint(err) == "" || strings.Contains(err.Error(), "xxxx") {
		t.Fatalf("error without hint or with content: %v", err)
	}
	// ParseDoc applies the same cap to bytes in memory.
	if _, err := ParseDoc(bytes.Repeat([]byte(" "), MaxDocSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseDoc over the cap: %v", err)
	}
}

func TestReadDocThroughSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := tempDir(t)
	real := filepath.Join(dir, "real.json")
	os.WriteFile(real, []byte(`{"version": 1}`), 0o600)
	link := filepath.Join(dir, "auth.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	doc, err := ReadDoc(link)
	if err != nil || doc.Index("version") != 0 {
		t.Fatalf("through a symlink: %v %v", doc, err)
	}
}
