package hermes

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestScanCopies(t *testing.T) {
	dir := copyTree(t, "home")
	// A leftover of the shared store and one of our own writes.
	os.WriteFile(filepath.Join(dir, "shared", "nous_auth.json.tmp.1.ab"), []byte(`{"refresh_token": "CANARY-x"`), 0o600)
	os.WriteFile(filepath.Join(dir, "auth.json.tmp.7.cd"), []byte(`{}`), 0o600)
	// Not copies: the live files, an unrelated file, a snapshot without secrets.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(`access_token=CANARY`), 0o600)
	os.MkdirAll(filepath.Join(dir, "state-snapshots", "20260101-000000"), 0o700)
	os.WriteFile(filepath.Join(dir, "state-snapshots", "20260101-000000", "auth.json"), []byte(`{"version": 1}`), 0o600)
	os.MkdirAll(filepath.Join(dir, "cache"), 0o700)
	os.WriteFile(filepath.Join(dir, "cache", "bws_cache.json"), []byte(`{"secrets": [{"key": "OPENAI_API_KEY", "value": "CANARY-bws"}]}`), 0o600)

	h, err := Resolve(envOf(map[string]string{"HERMES_HOME": dir}), "linux", tempDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	got := ScanCopies(h)
	type row struct {
		rel     string
		kind    CopyKind
		secrets int
	}
	var rows []row
	for _, c := range got {
		rel, _ := filepath.Rel(dir, c.Path)
		rows = append(rows, row{filepath.ToSlash(rel), c.Kind, c.Secrets})
		if c.Unreadable != "" {
			t.Errorf("%s unreadable: %s", rel, c.Unreadable)
		}
	}
	want := []row{
		{".env_abc123.tmp", CopyTemp, 1},
		{"auth.json.corrupt", CopyCorrupt, 3}, // 700 bytes of a store, counted leniently: codex access+refresh, nous access
		{"auth.json.tmp.4242.0123456789abcdef0123456789abcdef", CopyTemp, 2},
		{"auth.json.tmp.7.cd", CopyTemp, 0},    // listed: temp files are always listed
		{"cache/bws_cache.json", CopyCache, 0}, // listed although its keys are not secret-shaped
		{"shared/nous_auth.json.tmp.1.ab", CopyTemp, 1},
		{"state-snapshots/20260719-120000/.env", CopySnapshot, 3},
		{"state-snapshots/20260719-120000/auth.json", CopySnapshot, 9}, // codex 2, nous 3, pool 2+2
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got\n%v\nwant\n%v", rows, want)
	}

	// A profile's scan covers its own directory only.
	w, _ := h.WithProfile("work")
	os.WriteFile(filepath.Join(w.Dir, ".auth_x1.tmp"), []byte(`{"api_key": "CANARY"}`), 0o600)
	pc := ScanCopies(w)
	if len(pc) != 1 || !strings.HasSuffix(pc[0].Path, ".auth_x1.tmp") || pc[0].Secrets != 1 {
		t.Fatalf("profile scan %+v", pc)
	}
}

func TestScanCopiesUnreadable(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "auth.json.corrupt")
	os.Mkdir(p, 0o700) // a directory where a file belongs
	cs := ScanCopies(Home{Root: dir, Dir: dir, SharedDir: filepath.Join(dir, "shared")})
	if len(cs) != 1 || cs[0].Unreadable == "" || cs[0].Secrets != 0 {
		t.Fatalf("%+v", cs)
	}
}
