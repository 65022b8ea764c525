package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// TestMigrateBadInput: each broken store gets a clear error with a hint and
// the documented exit code, and nothing is written: no vault, no change to
// any file, no BOM, no partial JSON.
func TestMigrateBadInput(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	big := `{"version":1,"providers":{},"padding":"` + strings.Repeat("x", 50<<20) + `"}`
	cases := []struct {
		name  string
		setup func(t *testing.T, root string, env map[string]string) func()
		code  int
		msg   string
	}{
		{"not json", write("not json at all"), xerr.ExitFailed, "auth.json"},
		{"truncated", write(`{"version":1,"providers":{"nous":{"access_token":"CANARY-t`), xerr.ExitFailed, "auth.json"},
		{"json array", write(`[]`), xerr.ExitFailed, "auth.json"},
		{"50 MB", write(big), xerr.ExitFailed, "auth.json"},
		{"nested 10000 deep", write(`{"a":` + deep + `}`), xerr.ExitFailed, "auth.json"},
		{"invalid utf-8", write("{\"version\":1,\"x\":\"\xff\xfe\"}"), xerr.ExitFailed, "auth.json"},
		{"fifo", func(t *testing.T, root string, _ map[string]string) func() {
			if err := mkfifo(filepath.Join(root, "auth.json")); err != nil {
				t.Skip("mkfifo:", err)
			}
			return nil
		}, xerr.ExitFailed, "auth.json"},
		{"directory", func(t *testing.T, root string, _ map[string]string) func() {
			os.Mkdir(filepath.Join(root, "auth.json"), 0o700)
			return nil
		}, xerr.ExitFailed, "auth.json"},
		{"lock held past the deadline", func(t *testing.T, root string, env map[string]string) func() {
			os.WriteFile(filepath.Join(root, "auth.json"), []byte(`{"version":1,"providers":{"nous":{"refresh_token":"CANARY-r"}}}`), 0o600)
			cmd := exec.Command("python3", "-c", `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("ok", flush=True)
sys.stdin.read()`, filepath.Join(root, "auth.lock"))
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Skip("python3:", err)
			}
			out.Read(make([]byte, 2))
			return func() { in.Close(); cmd.Wait() }
		}, xerr.ExitLockTimeout, "lock"},
		{"backend unavailable", func(t *testing.T, root string, env map[string]string) func() {
			os.WriteFile(filepath.Join(root, "auth.json"), []byte(`{"version":1,"providers":{"nous":{"refresh_token":"CANARY-r"}}}`), 0o600)
			env["HERMES_KEYS_BACKEND"] = "secret-service"
			env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + filepath.Join(root, "dead.sock")
			return nil
		}, xerr.ExitFailed, "no D-Bus session bus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" {
				t.Skip("POSIX file types")
			}
			root := filepath.Join(t.TempDir(), ".hermes")
			os.MkdirAll(root, 0o700)
			env := map[string]string{"HERMES_HOME": root, "HOME": filepath.Dir(root), "HERMES_KEYS_BACKEND": "file",
				"HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10"}
			if done := tc.setup(t, root, env); done != nil {
				defer done()
			}
			before := tree(t, root)
			code, out, errOut := runCLI(t, env, "", "migrate", "--yes", "--lock-timeout", "300ms")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, "\nhint: ") {
				t.Errorf("stderr lacks %q or a hint:\n%s", tc.msg, errOut)
			}
			if strings.Contains(out+errOut, "CANARY") || strings.Contains(errOut, "xxxxxxxx") {
				t.Error("output repeats the input")
			}
			if _, err := os.Stat(filepath.Join(root, "hermes-keys", "vault.json")); err == nil {
				t.Error("a vault was created")
			}
			if after := tree(t, root); after != before {
				t.Error("files changed")
			}
		})
	}
}

func write(s string) func(t *testing.T, root string, _ map[string]string) func() {
	return func(t *testing.T, root string, _ map[string]string) func() {
		if err := os.WriteFile(filepath.Join(root, "auth.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return nil
	}
}
