package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Issue 11 item 8: where the file backend feeds Hermes without a daemon,
// doctor says why that is slow and to run the daemon and unlock it.
func TestDoctorFileBackendWithoutDaemon(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("SKIPPED: the broker daemon runs on Linux and macOS")
	}
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(t.TempDir(), "broker.sock")
	_, got, _ := doctorJSON(t, env)
	c := got["daemon"]
	if c.Status != checkWarn || !strings.Contains(c.Detail, "file backend") || !strings.Contains(c.Detail, "scrypt") ||
		!strings.Contains(c.Hint, "hermes-keys serve") || !strings.Contains(c.Hint, "hermes-keys unlock") {
		t.Fatalf("daemon check with the file backend and no daemon: %+v", c)
	}
}
