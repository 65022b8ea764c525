package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hookVars are the test-only variables; a release build must not know them.
var hookVars = []string{"HERMES_KEYS_TEST_SCRYPT", "HERMES_KEYS_TEST_CRASH", "HERMES_KEYS_CODEX_TOKEN_URL"}

// buildRelease builds hermes-keys as a release is built: without the
// testhooks tag, whatever GOFLAGS says.
func buildRelease(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hermes-keys")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Issue 10 item 8: a binary built without the testhooks tag holds none of
// the test hooks: it does not name their variables, a crash spec does not
// kill it, a test scrypt work factor does not weaken identity.age. The
// tagged binary the other tests use is the control: it names them all.
func TestReleaseBinaryHasNoTestHooks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL fault points are POSIX")
	}
	rel := buildRelease(t)
	tagged := buildBinary(t)
	for _, c := range []struct {
		bin  string
		want bool
	}{{rel, false}, {tagged, true}} {
		b, err := os.ReadFile(c.bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range hookVars {
			if got := bytes.Contains(b, []byte(v)); got != c.want {
				t.Errorf("%s names %s: %v, want %v", c.bin, v, got, c.want)
			}
		}
		out, err := exec.Command("go", "version", "-m", c.bin).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m: %v\n%s", err, out)
		}
		if got := strings.Contains(string(out), "testhooks"); got != c.want {
			t.Errorf("build info of %s mentions testhooks: %v, want %v\n%s", c.bin, got, c.want, out)
		}
		// The crash points' working half (faultpoint.Arm) is compiled in
		// only with the tag.
		syms, err := exec.Command("go", "tool", "nm", c.bin).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool nm: %v", err)
		}
		if got := bytes.Contains(syms, []byte("internal/faultpoint.Arm")); got != c.want {
			t.Errorf("%s holds faultpoint.Arm: %v, want %v", c.bin, got, c.want)
		}
	}

	// Test-only packages (internal/asuser re-runs tests as another uid) and
	// the testing package never reach the release binary.
	deps, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, deps)
	}
	for _, p := range strings.Fields(string(deps)) {
		if p == "testing" || strings.HasSuffix(p, "/internal/asuser") || strings.HasSuffix(p, "/internal/hermestest") {
			t.Errorf("the release build imports %s", p)
		}
	}

	// Run a first migration with a crash spec at the first vault write and
	// work factor 1: the release binary neither dies nor obeys.
	root := copyTree(t, filepath.Join("..", "..", "broker", "hermes", "testdata", "home"))
	cmd := exec.Command(rel, "migrate", "--all-profiles", "--env", "--yes")
	cmd.Env = []string{"HERMES_HOME=" + root, "HOME=" + filepath.Dir(root), "HERMES_KEYS_BACKEND=file",
		"HERMES_KEYS_PASSPHRASE=" + testPassphrase, "PATH=/usr/bin:/bin",
		"HERMES_KEYS_TEST_CRASH=temp-created:1", "HERMES_KEYS_TEST_SCRYPT=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release migrate with HERMES_KEYS_TEST_CRASH set: %v\n%s", err, out)
	}
	id, err := os.ReadFile(filepath.Join(root, "hermes-keys", "identity.age"))
	if err != nil {
		t.Fatal(err)
	}
	if n := scryptLogN(t, id); n < 18 {
		t.Fatalf("identity.age was written at scrypt work factor %d under HERMES_KEYS_TEST_SCRYPT=1", n)
	}
}

// scryptLogN reads the work factor from an age scrypt stanza
// ("-> scrypt SALT LOGN").
func scryptLogN(t *testing.T, file []byte) int {
	t.Helper()
	for _, line := range strings.Split(string(file), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "->" && f[1] == "scrypt" {
			n := 0
			for _, c := range f[3] {
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	t.Fatal("identity.age has no scrypt stanza")
	return 0
}
