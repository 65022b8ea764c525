package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// TestMigrateCrashSafety kills `hermes-keys migrate` (SIGKILL, through the
// test-only HERMES_KEYS_TEST_CRASH fault points) at every step of its first
// atomic writes: temp file created, written, fsynced, renamed, for the vault
// writes and for the skeleton and .env writes alike. After each kill, every auth.json
// still parses; a re-run completes; and unmigrate then gives back every
// document as it was, so no secret was lost.
func TestMigrateCrashSafety(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL fault points are POSIX")
	}
	bin := buildBinary(t)
	corpus := filepath.Join("..", "..", "broker", "hermes", "testdata", "home")
	points := 0
	steps := []string{"temp-created", "temp-written", "temp-synced", "renamed", // vault writes
		hermes.FaultTempWritten, hermes.FaultRenamed} // skeleton and .env writes
	for _, step := range steps {
		for n := 1; n <= 6; n++ {
			spec := fmt.Sprintf("%s:%d", step, n)
			t.Run(spec, func(t *testing.T) {
				root := copyTree(t, corpus)
				env := []string{"HERMES_HOME=" + root, "HOME=" + filepath.Dir(root), "HERMES_KEYS_BACKEND=file",
					"HERMES_KEYS_PASSPHRASE=" + testPassphrase, "HERMES_KEYS_TEST_SCRYPT=10", "PATH=/usr/bin:/bin"}
				before := map[string]any{}
				for _, d := range secretDocs {
					before[d] = readJSON(t, filepath.Join(root, d))
				}
				cmd := exec.Command(bin, "migrate", "--all-profiles", "--env", "--yes")
				cmd.Env = append(env, "HERMES_KEYS_TEST_CRASH="+spec)
				out, err := cmd.CombinedOutput()
				killed := false
				if ee, ok := err.(*exec.ExitError); ok {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
						killed = true
					} else {
						t.Fatalf("migrate failed without being killed: %v\n%s", err, out)
					}
				}
				if killed {
					points++
				}
				for _, d := range []string{"auth.json", "profiles/work/auth.json"} {
					b, _ := os.ReadFile(filepath.Join(root, d))
					if !json.Valid(b) {
						t.Fatalf("%s does not parse after the kill", d)
					}
				}
				for _, args := range [][]string{{"migrate", "--all-profiles", "--env", "--yes"}, {"unmigrate", "--all-profiles", "--yes"}} {
					c := exec.Command(bin, args...)
					c.Env = env
					if out, err := c.CombinedOutput(); err != nil {
						t.Fatalf("%v after the kill: %v\n%s", args, err, out)
					} else if strings.Contains(string(out), "CANARY") {
						t.Fatal("output holds a secret")
					}
				}
				for _, d := range secretDocs {
					if got := readJSON(t, filepath.Join(root, d)); !reflect.DeepEqual(got, before[d]) {
						t.Errorf("%s lost or changed content after a kill at %s", d, spec)
					}
				}
			})
		}
	}
	if points < 10 {
		t.Fatalf("only %d fault points were reached; the test covers too little", points)
	}
	t.Logf("killed at %d points", points)
}
