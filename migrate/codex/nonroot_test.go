package codex

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// childEnv marks the re-executed, unprivileged test binary.
const childEnv = "HERMES_KEYS_CODEX_NONROOT_CHILD"

// nobody is the unprivileged uid/gid the scenarios are re-run as.
const nobody = "65534"

// TestScenariosAsNonRoot re-runs TestScenarios as an unprivileged user when
// the tests run as root, because root ignores the 0500 mode on CODEX_HOME:
// only as another user does that variant prove that no write is even
// attempted.
func TestScenariosAsNonRoot(t *testing.T) {
	switch {
	case os.Getenv(childEnv) != "":
		t.Skip("this is the unprivileged child")
	case runtime.GOOS == "windows":
		t.Skip("no uid to drop on Windows")
	case os.Geteuid() != 0:
		t.Skip("not root: TestScenarios already ran its 0500 variant with permissions enforced")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		loudSkip(t, "NON-ROOT READ-ONLY SUITE SKIPPED: running as root and setpriv (util-linux) is not installed, "+
			"so the CODEX_HOME 0500 scenarios ran with root's permission bypass only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a 0700 build directory; copy it where the
	// unprivileged user can run it, and give that user its own TMPDIR.
	dir, err := os.MkdirTemp("", "codex-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "codex.test")
	if err := copyFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid="+nobody, "--regid="+nobody, "--clear-groups", "--",
		bin, "-test.run=^TestScenarios$", "-test.count=1", "-test.v")
	cmd.Dir = tmp
	cmd.Env = []string{childEnv + "=1", "TMPDIR=" + tmp, "HOME=" + tmp, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", err, tail(string(out), 4000))
	}
	text := string(out)
	passed := strings.Count(text, "--- PASS: TestScenarios/")
	if !strings.Contains(text, "--- PASS: TestScenarios ") || passed != 2*len(scenarios()) || strings.Contains(text, "--- SKIP") {
		t.Fatalf("unprivileged run did not pass every scenario (%d passed):\n%s", passed, tail(text, 4000))
	}
	t.Logf("%d scenarios passed as uid %s", passed, nobody)
}

// loudSkip skips and also prints to stderr, so the skip shows without -v.
func loudSkip(t *testing.T, msg string) {
	t.Helper()
	fmt.Fprintln(os.Stderr, "=== "+msg)
	t.Skip(msg)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
