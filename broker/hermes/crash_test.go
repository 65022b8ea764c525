//go:build testhooks

package hermes

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
)

// TestCrashHelper is not a test: run by TestWriteFileCrash in a child
// process, it writes auth.json and is killed at the armed step.
func TestCrashHelper(t *testing.T) {
	spec, path := os.Getenv("HERMES_TEST_CRASH_AT"), os.Getenv("HERMES_TEST_CRASH_FILE")
	if spec == "" {
		t.Skip("helper for TestWriteFileCrash")
	}
	faultpoint.Arm(spec)
	doc, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	doc.Set("active_provider", json.RawMessage(`"nous"`))
	WriteDoc(path, doc)
	t.Fatal("not killed")
}

// TestWriteFileCrash kills a writer (SIGKILL, no deferred code) after the
// temp file is written and after the rename: the store is then the old
// document or the new one, whole, never a mix; a leftover temp file is one
// ScanCopies reports.
func TestWriteFileCrash(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL of ourselves is POSIX")
	}
	old := []byte("{\n  \"version\": 1,\n  \"active_provider\": \"openai-codex\"\n}\n")
	for _, step := range []string{FaultTempWritten, FaultRenamed} {
		t.Run(step, func(t *testing.T) {
			dir := tempDir(t)
			p := filepath.Join(dir, "auth.json")
			os.WriteFile(p, old, 0o600)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
			cmd.Env = append(os.Environ(), "HERMES_TEST_CRASH_AT="+step, "HERMES_TEST_CRASH_FILE="+p)
			out, err := cmd.CombinedOutput()
			if err == nil || cmd.ProcessState.Success() {
				t.Fatalf("the writer was not killed: %s", out)
			}
			got, _ := os.ReadFile(p)
			if _, err := ParseDoc(got); err != nil {
				t.Fatalf("store unreadable after the crash: %v", err)
			}
			switch step {
			case FaultTempWritten:
				if !bytes.Equal(got, old) {
					t.Fatalf("store changed before the rename: %s", got)
				}
				cs := ScanCopies(Home{Root: dir, Dir: dir, SharedDir: filepath.Join(dir, "shared")})
				if len(cs) != 1 || cs[0].Kind != CopyTemp {
					t.Fatalf("leftover temp file not reported: %+v", cs)
				}
			case FaultRenamed:
				if !bytes.Contains(got, []byte(`"active_provider": "nous"`)) {
					t.Fatalf("store is not the new document: %s", got)
				}
			}
		})
	}
}
