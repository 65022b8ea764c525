// Package asuser lets a test whose assertions need an unprivileged uid
// (permission bits do not stop root) run as one when the suite runs as
// root, as CI does: the test binary re-executes itself, for that one test,
// as nobody (uid 65534) through setpriv. It promises never to let such a
// test pass silently: when it cannot drop privileges it skips loudly, and
// under CI=true it fails.
package asuser

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Nobody is the uid (and gid) the test runs as.
const Nobody = 65534

const envMark = "HERMES_KEYS_TEST_AS_NOBODY"

// Unprivileged reports whether the caller can go on with the part of t
// that needs an unprivileged uid: true when not running as root (the
// re-executed child included). As root it runs t (a top-level test) again
// as nobody, fails t with the child's output when that run fails, and
// returns false: the caller returns, its assertions having run in the
// child.
func Unprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	if os.Getenv(envMark) != "" {
		t.Fatal("still root after dropping privileges")
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("asuser: %s is a subtest; call it from a top-level test", t.Name())
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("running as root, and setpriv (util-linux) is missing to run %s as nobody", t.Name())
		}
		t.Skipf("SKIPPED the unprivileged part of %s: running as root without setpriv (util-linux)", t.Name())
		return false
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary sits in a 0700 directory of root's; nobody gets a copy.
	dir, err := os.MkdirTemp("", "hk-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envMark+"=1", "TMPDIR="+os.TempDir(), "HOME="+dir)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s as nobody (uid %d): %v\n%s", t.Name(), Nobody, err, out)
	}
	t.Logf("%s also ran as nobody (uid %d) and passed", t.Name(), Nobody)
	return false
}
