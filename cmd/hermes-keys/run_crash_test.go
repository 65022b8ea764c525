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
// fcntl.flock on auth.lock, re-read, change, temp file + fsync + rename;
// then a Hermes-like config set of OPENROUTER_API_KEY in .env (as
// save_env_value: no lock, lines stripped, .env_*.tmp, fsync, replace).
// It writes its pid first and "rotated" to argv[2] once both are done; it
// holds the signals a dying run sends, so the note tells what it wrote.
const rotateScript = `
import fcntl, json, os, signal, sys, tempfile
# The signal a dying run sends its CMD (Linux) must not stop this between
# its writes and the note saying they are done: it finishes, then exits.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
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
ep = os.path.join(home, ".env")
lines = [l.rstrip("\r\n").strip() + "\n" for l in open(ep, encoding="utf-8-sig").readlines()]
lines = [l for l in lines if not l.startswith("OPENROUTER_API_KEY=")] + ["OPENROUTER_API_KEY=sk-or-CANARY-env-ROTATED\n"]
t, tmp = tempfile.mkstemp(dir=home, prefix=".env_", suffix=".tmp")
with os.fdopen(t, "w") as f:
    f.writelines(lines); f.flush(); os.fsync(f.fileno())
os.replace(tmp, ep)
open(marker, "w").write("rotated")
`

// dotenvValues reads the final value of every key of a .env as python-dotenv
// gives it.
func dotenvValues(t *testing.T, p string) map[string]string {
	t.Helper()
	f, err := hermes.ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range f.Vars() {
		out[v.Key] = v.Value
	}
	return out
}

// TestRunCrashSafety kills `hermes-keys run` (SIGKILL, through the test-only
// fault points) at each step of its atomic writes: materialising, sealing
// the rotation CMD made, scrubbing, for auth.json and for .env. After each
// kill every auth.json parses, the next command (status) recovers, and
// unmigrate gives back every document and every .env key as before the
// run, with the rotated token and .env key where CMD changed them: nothing
// lost, no older value over a newer one.
func TestRunCrashSafety(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Hermes stand-in (scripts/test checks for it): %v", err)
	}
	bin := buildBinary(t)
	corpus := filepath.Join("..", "..", "broker", "hermes", "testdata", "home")
	killed := 0
	killedAt := map[string]int{}
	steps := []string{"temp-created", "temp-written", "temp-synced", "renamed", // vault writes
		hermes.FaultTempWritten, hermes.FaultRenamed, // materialise and scrub writes
		hermes.FaultEnvTempWritten, hermes.FaultEnvRenamed} // the same for .env
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
				envBefore := dotenvValues(t, filepath.Join(root, ".env"))
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
					killedAt[step]++
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
				if rotated {
					envBefore["OPENROUTER_API_KEY"] = "sk-or-CANARY-env-ROTATED"
				}
				if got := dotenvValues(t, filepath.Join(root, ".env")); !reflect.DeepEqual(got, envBefore) {
					t.Errorf(".env lost or changed a key after a kill at %s (CMD rotated: %v)", spec, rotated)
				}
			})
		}
	}
	t.Logf("run was killed at %d points", killed)
	if killed < 10 {
		t.Fatalf("only %d kills: the fault points no longer cover run's writes", killed)
	}
	for _, step := range []string{hermes.FaultEnvTempWritten, hermes.FaultEnvRenamed} {
		if killedAt[step] < 2 { // materialise and scrub
			t.Errorf("run was killed %d time(s) at %s: the .env writes are not covered", killedAt[step], step)
		}
	}
}
