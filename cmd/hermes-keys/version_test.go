package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func TestResolveVersion(t *testing.T) {
	tagged := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/hermes-keys/hermes-keys", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{
		Main:     debug.Module{Version: "v1.2.3+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
	}
	for _, tc := range []struct {
		name                string
		ver, commit, date   string
		bi                  *debug.BuildInfo
		wantV, wantC, wantD string
	}{
		{"go install @tag: build info, never dev", "dev", "", "", tagged, "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-01-02T03:04:05Z"},
		{"release ldflags win", "v2.0.0", "feed", "2026-02-02T00:00:00Z", tagged, "v2.0.0", "feed", "2026-02-02T00:00:00Z"},
		{"go build in a plain tree", "dev", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", "", ""},
		{"no build info", "dev", "", "", nil, "dev", "", ""},
		{"dirty checkout says so in the commit", "dev", "", "", dirty, "v1.2.3+dirty", "abc-dirty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveVersion(tc.ver, tc.commit, tc.date, tc.bi)
			if got.Version != tc.wantV || got.Commit != tc.wantC || got.Date != tc.wantD {
				t.Errorf("got %+v, want version %q commit %q date %q", got, tc.wantV, tc.wantC, tc.wantD)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	ios := &iox.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	if code := Main(ios, iox.MapEnv(nil), []string{"version", "--json"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var v map[string]string
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"version", "commit", "date", "go", "os", "arch"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version --json lacks %q: %s", k, out.String())
		}
	}
	if v["version"] == "" || !strings.HasPrefix(v["go"], "go") {
		t.Errorf("version --json: %s", out.String())
	}
}

// TestVersionFromGitTag: `go install ./cmd/hermes-keys` in a checkout at a
// version tag prints that version, with no linker flags (Go stamps the main
// module's version from the tag), and the commit it was built from. The tag
// is v1.x: a v2+ tag would need a /v2 module path, and Go would ignore it.
func TestVersionFromGitTag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary from a clone")
	}
	git, err := exec.LookPath("git")
	top := ""
	if err == nil {
		var out []byte
		out, err = exec.Command(git, "rev-parse", "--show-toplevel").Output()
		top = strings.TrimSpace(string(out))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no git checkout to clone (%v): the tagged-install check cannot run in CI", err)
		}
		t.Skipf("VERSION TAG TEST SKIPPED: no git checkout here (%v)", err)
	}
	work := t.TempDir()
	clone := filepath.Join(work, "src")
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// A fresh repository holding this tree's files as they are now (so the
	// test checks this code, not the last commit), committed and tagged: clean,
	// or Go would say v1.9.9+dirty. GOFLAGS: this machine's go env may turn
	// VCS stamping off; auto is Go's default, what a user's go install gets.
	files := run(top, nil, git, "ls-files", "-co", "--exclude-standard")
	for _, f := range strings.Split(files, "\n") {
		data, err := os.ReadFile(filepath.Join(top, f))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(clone, f)), 0o755)
		if err := os.WriteFile(filepath.Join(clone, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitEnv := []string{"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid"}
	run(clone, nil, git, "init", "-q")
	run(clone, nil, git, "add", "-A")
	run(clone, gitEnv, git, "commit", "-q", "-m", "snapshot")
	run(clone, gitEnv, git, "tag", "v1.9.9")
	head := run(clone, nil, git, "rev-parse", "HEAD")
	bin := filepath.Join(work, "bin")
	run(clone, []string{"GOBIN=" + bin, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=auto"}, "go", "install", "./cmd/hermes-keys")
	out := run(work, nil, filepath.Join(bin, "hermes-keys"), "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Version != "v1.9.9" || v.Commit != head || v.Date == "" {
		t.Errorf("go install at tag v1.9.9 (commit %s): version --json = %s", head, out)
	}
	if text := run(work, nil, filepath.Join(bin, "hermes-keys"), "version"); !strings.HasPrefix(text, "hermes-keys v1.9.9 ("+head) {
		t.Errorf("version = %q", text)
	}
}
