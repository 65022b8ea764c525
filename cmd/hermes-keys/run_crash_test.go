//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// rotateScript is a Hermes-like refresh of the root's Codex pair: under
// fcntl.flock on auth.lock, re-read, change, temp file + fsync + rename.
// It writes its pid first and "rotated" to argv[2] once the rename is done.
const rotateScript = `
import fcntl, json, os, sys, tempfile
home, marker = sys.argv[1], sys.argv[2]
open(marker + ".pid", "w").write(str(os.getpid()))
fd = os.open(os.path.join(home, "auth.lock"), os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
p = os.path.join(home, "auth.json")
d = json.load(open(p))
d["providers"]["openai-codex"]["tokens"]["refresh_token"] = "rt_CANARY-codex-refresh-ROTATED"
t, tmp = tempfile.mkstemp(dir=home, prefix=".auth_", suffix=".tmp")
with os.fdopen(t, "w") as f:
    json.dump(d, f, indent=2); f.flush(); os.fsync(f.fileno())
os.replace(tmp, p)
os.close(fd)
open(marker, "w").write("rotated")
`

// TestRunCrashSafety kills `hermes-keys run` (SIGKILL, through the test-only
// fault points) at each step of its atomic writes: materialising, sealing
// the rotation CMD made, scrubbing. After each kill every auth.json parses,
// the next command (status) recovers, and unmigrate gives back every
// document as before the run, with the rotated token where CMD rotated it:
// nothing lost, no older pair over a newer one.
func TestRunCrashSafety(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Hermes stand-in (scripts/test checks for it): %v", err)
	}
	bin := buildBinary(t)
	corpus := filepath.Join("..", "..", "broker", "hermes", "testdata", "home")
	killed := 0
	steps := []string{"temp-created", "temp-written", "temp-synced", "renamed", // vault writes
		hermes.FaultTempWritten, hermes.FaultRenamed} // materialise and scrub writes
	for _, step := range steps {
		for n := 1; n <= 4; n++ {
			spec := fmt.Sprintf("%s:%d", step, n)
			t.Run(spec, func(t *testing.T) {
				root := copyTree(t, corpus)
				env := []string{"HERMES_HOME=" + root, "HOME=" + filepath.Dir(root), "HERMES_KEYS_BACKEND=file",
					"HERMES_KEYS_PASSPHRASE=" + testPassphrase, "HERMES_KEYS_TEST_SCRYPT=10", "PATH=/usr/bin:/bin",
					"HERMES_KEYS_SOCKET=" + filepath.Join(root, "no.sock")}
				before := map[string]any{}
				for _, d := range secretDocs {
					before[d] = readJSON(t, filepath.Join(root, d))
				}
				hk := func(extra []string, args ...string) ([]byte, error) {
					c := exec.Command(bin, args...)
					c.Env = append(append([]string{}, env...), extra...)
					return c.CombinedOutput()
				}
				if out, err := hk(nil, "migrate", "--all-profiles", "--env", "--yes"); err != nil {
					t.Fatalf("migrate: %v\n%s", err, out)
				}
				marker := filepath.Join(t.TempDir(), "rotated")
				out, err := hk([]string{"HERMES_KEYS_TEST_CRASH=" + spec}, "run", "--", py, "-c", rotateScript, root, marker)
				if ee, ok := err.(*exec.ExitError); ok {
					ws, _ := ee.Sys().(syscall.WaitStatus)
					if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
						t.Fatalf("run failed without being killed: %v\n%s", err, out)
					}
					killed++
				} else if err != nil {
					t.Fatal(err)
				}
				// CMD holds the session while it lives; it ends on its own.
				if b, err := os.ReadFile(marker + ".pid"); err == nil {
					pid, _ := strconv.Atoi(string(b))
					for i := 0; i < 400 && syscall.Kill(pid, 0) == nil; i++ {
						time.Sleep(10 * time.Millisecond)
					}
				}
				for _, d := range []string{"auth.json", "profiles/work/auth.json"} {
					b, _ := os.ReadFile(filepath.Join(root, d))
					if !json.Valid(b) {
						t.Fatalf("%s does not parse after the kill", d)
					}
				}
				for _, args := range [][]string{{"status"}, {"unmigrate", "--all-profiles", "--yes"}} {
					out, err := hk(nil, args...)
					if err != nil {
						t.Fatalf("%v after the kill: %v\n%s", args, err, out)
					}
					if strings.Contains(string(out), "CANARY") {
						t.Fatalf("%v printed a secret", args)
					}
				}
				rotated := false
				if b, _ := os.ReadFile(marker); string(b) == "rotated" {
					rotated = true
				}
				want := before["auth.json"].(map[string]any)
				if rotated {
					codex := want["providers"].(map[string]any)["openai-codex"].(map[string]any)
					codex["tokens"].(map[string]any)["refresh_token"] = "rt_CANARY-codex-refresh-ROTATED"
				}
				for _, d := range secretDocs {
					if got := readJSON(t, filepath.Join(root, d)); !reflect.DeepEqual(got, before[d]) {
						t.Errorf("%s lost or changed content after a kill at %s (CMD rotated: %v)", d, spec, rotated)
					}
				}
			})
		}
	}
	t.Logf("run was killed at %d points", killed)
	if killed < 10 {
		t.Fatalf("only %d kills: the fault points no longer cover run's writes", killed)
	}
}
