package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds hermes-keys (with the testhooks tag) once per test run,
// for tests that need a real process (start-up, signals, stray children).
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hk-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hermes-keys")
		// The tests drive the test hooks (HERMES_KEYS_TEST_*), which only
		// a testhooks build has.
		// cgo off, as the README installs it: the tests run the cgo-free
		// code paths (os/user, net) that users get.
		cmd := exec.Command("go", "build", "-tags", "testhooks", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// busProcesses lists the D-Bus and keyring daemons now running whose
// environment holds mark (so parallel tests' daemons do not count).
func busProcesses(t *testing.T, mark string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range ents {
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		if !strings.HasPrefix(c, "dbus-daemon") && !strings.HasPrefix(c, "gnome-keyring") && !strings.HasPrefix(c, "dbus-launch") {
			continue
		}
		if env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ")); err == nil && !strings.Contains(string(env), mark) {
			continue
		}
		pids = append(pids, e.Name()+":"+c)
	}
	sort.Strings(pids)
	return pids
}

// TestNoBusNoStrayProcesses: without a usable session bus, the commands
// that touch backends never start dbus-launch (a decoy on PATH would record
// it) and leave no daemon behind.
func TestNoBusNoStrayProcesses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("D-Bus start-up behaviour is Linux-only")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	decoy := filepath.Join(work, "bin")
	os.Mkdir(decoy, 0o755)
	marker := filepath.Join(work, "dbus-launch-ran")
	for _, name := range []string{"dbus-launch", "dbus-daemon", "gnome-keyring-daemon"} {
		os.WriteFile(filepath.Join(decoy, name), []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"), 0o755)
	}
	dead := filepath.Join(work, "dead.sock")
	conditions := map[string][]string{
		"no bus":      {"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + work},
		"dead socket": {"DBUS_SESSION_BUS_ADDRESS=unix:path=" + dead, "XDG_RUNTIME_DIR=" + work},
		"autolaunch":  {"DBUS_SESSION_BUS_ADDRESS=autolaunch:", "XDG_RUNTIME_DIR=" + work},
	}
	mark := "HOME=" + work
	before := busProcesses(t, mark)
	for name, env := range conditions {
		for _, args := range [][]string{{"version"}, {"backends"}, {"status"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = append([]string{"PATH=" + decoy + ":/usr/bin:/bin", "HOME=" + work, "HERMES_HOME=" + filepath.Join(work, "h")}, env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s: %v: %v\n%s", name, args, err, out)
			}
			if args[0] == "backends" && !strings.Contains(string(out), "no D-Bus session bus") {
				t.Errorf("%s: backends does not name the missing bus:\n%s", name, out)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a D-Bus or keyring daemon was launched")
	}
	if after := busProcesses(t, mark); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("daemons before %v, after %v", before, after)
	}
}
