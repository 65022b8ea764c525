//go:build linux || darwin

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRunFallsBackWhenTheDaemonLocks: run goes through the daemon; when
// the daemon forgets the key while run lives (here `hermes-keys lock` from
// inside CMD), run's last seal and scrub open the vault themselves instead
// of leaving the store in plaintext.
func TestRunFallsBackWhenTheDaemonLocks(t *testing.T) {
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(sockDir(t), "broker.sock")
	d := startServe(t, env)
	// CMD's environment is the test process's (run's own), plus what the
	// command needs to find this vault and daemon.
	hk := buildBinary(t)
	code, _, errOut := runCLI(t, env, "", "run", "--", "env", "HERMES_HOME="+env["HERMES_HOME"], "HERMES_KEYS_SOCKET="+env["HERMES_KEYS_SOCKET"], hk, "lock")
	if code != 0 || strings.Contains(errOut, "plaintext") {
		t.Fatalf("run: exit %d\n%s\ndaemon log:\n%s", code, errOut, d.log)
	}
	if !strings.Contains(d.log.String(), "handed every record") {
		t.Fatalf("run did not go through the daemon:\n%s", d.log)
	}
	if !strings.Contains(d.log.String(), "forgot the vault key: lock requested") {
		t.Fatalf("the daemon was not locked by CMD:\n%s", d.log)
	}
}
