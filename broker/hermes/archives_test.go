package hermes

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// writeZip writes a zip of name→content at p with mode perm.
func writeZip(t *testing.T, p string, perm os.FileMode, members map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, s := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(s))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // past the umask, as Hermes's 0644
		t.Fatal(err)
	}
}

func TestScanArchives(t *testing.T) {
	home := tempDir(t)
	root := filepath.Join(home, ".hermes")
	auth, err := os.ReadFile(filepath.Join("testdata", "home", "auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	// What `hermes backup` writes: the root's files relative to it.
	writeZip(t, filepath.Join(home, "hermes-backup-2026-07-20-120000.zip"), 0o644, map[string]string{
		"auth.json":               string(auth),
		".env":                    "OPENROUTER_API_KEY=CANARY-or\nHERMES_MODEL=x\n",
		"profiles/work/.env":      "OPENAI_API_KEY=CANARY-oa\n",
		"shared/nous_auth.json":   `{"access_token": "CANARY-a", "refresh_token": "CANARY-r"}`,
		"config.yaml":             "api_key: CANARY-not-a-secret-document\n",
		"state-snapshots/1/.env":  "ANTHROPIC_API_KEY=CANARY-an\n",
		"profiles/work/auth.json": `{"version": 1, "providers": {}}`,
	})
	// A full pre-update backup, readable by its group only.
	writeZip(t, filepath.Join(root, "backups", "pre-update-2026-07-20-120000.zip"), 0o640, map[string]string{
		"auth.json": string(auth),
	})
	// Not listed: a backup without secrets, another user's file name, a link.
	writeZip(t, filepath.Join(home, "hermes-backup-empty.zip"), 0o644, map[string]string{"config.yaml": "model: x\n"})
	writeZip(t, filepath.Join(home, "other.zip"), 0o644, map[string]string{".env": "OPENAI_API_KEY=CANARY\n"})
	if runtime.GOOS != "windows" {
		if err := os.Symlink(filepath.Join(home, "other.zip"), filepath.Join(home, "hermes-backup-link.zip")); err != nil {
			t.Fatal(err)
		}
	}
	// Listed as unreadable: named like a backup, not a zip.
	if err := os.WriteFile(filepath.Join(home, "hermes-backup-bad.zip"), []byte("CANARY not a zip"), 0o600); err != nil {
		t.Fatal(err)
	}

	got := ScanArchives(root, home)
	type row struct {
		rel     string
		world   bool
		members []ArchiveMember
		bad     bool
	}
	var rows []row
	for _, a := range got {
		rel, _ := filepath.Rel(home, a.Path)
		rows = append(rows, row{filepath.ToSlash(rel), a.WorldReadable, a.Members, a.Unreadable != ""})
	}
	want := []row{
		{".hermes/backups/pre-update-2026-07-20-120000.zip", false, []ArchiveMember{{"auth.json", 9}}, false},
		{"hermes-backup-2026-07-20-120000.zip", runtime.GOOS != "windows", []ArchiveMember{
			{".env", 1}, {"auth.json", 9}, {"profiles/work/.env", 1}, {"shared/nous_auth.json", 2}, {"state-snapshots/1/.env", 1},
		}, false},
		{"hermes-backup-bad.zip", false, nil, true},
	}
	for i := range rows { // zip member order is the writer's: compare as sets
		sortMembers(rows[i].members)
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", rows, want)
	}
	if n := got[1].Secrets(); n != 14 {
		t.Errorf("Secrets() = %d, want 14", n)
	}
	// Names and counts only: no value reaches the report.
	b, _ := json.Marshal(got)
	if bytes.Contains(b, []byte("CANARY")) {
		t.Errorf("a secret value in the report: %s", b)
	}
}

func sortMembers(ms []ArchiveMember) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Name < ms[j-1].Name; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// A member whose header promises less than it holds is read only as far as
// the promise, and one over the limit stops the scan with a reason.
func TestScanArchiveLimits(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "big.zip")
	writeZip(t, p, 0o600, map[string]string{".env": "OPENAI_API_KEY=CANARY\n" + strings.Repeat("#\n", maxArchiveMember/2+8)})
	a := ScanArchive(p)
	if a.Unreadable == "" || !strings.Contains(a.Unreadable, "limits") {
		t.Errorf("over the member limit: %+v", a)
	}
}

func FuzzScanZip(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("auth.json")
	w.Write([]byte(`{"providers": {"nous": {"access_token": "CANARY"}}}`))
	w, _ = zw.Create("profiles/x/.env")
	w.Write([]byte("OPENAI_API_KEY=CANARY\n"))
	zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, _ := scanZip(bytes.NewReader(data), int64(len(data)))
		for _, m := range ms {
			if m.Secrets <= 0 {
				t.Fatalf("member %q listed with %d secrets", m.Name, m.Secrets)
			}
			if _, ok := secretMember(m.Name); !ok {
				t.Fatalf("member %q is not a secret document", m.Name)
			}
		}
	})
}
