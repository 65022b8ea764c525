package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeHermes lays out an installed Hermes of version under dir, the way
// scripts/install-hermes does without pip (a .pth naming the source), and
// returns its bin directory. cmd: it has the command secret source.
func fakeHermes(t *testing.T, dir, version string, cmd bool) string {
	t.Helper()
	w := func(p, s string, perm os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), perm); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(dir, "src")
	w(filepath.Join(src, "hermes_cli", "__init__.py"), "__version__ = \""+version+"\"\n", 0o644)
	if cmd {
		w(filepath.Join(src, "agent", "secret_sources", "command.py"), "", 0o644)
	}
	w(filepath.Join(dir, "lib", "python3.11", "site-packages", "hermes_agent_src.pth"), src+"\n", 0o644)
	w(filepath.Join(dir, "bin", "hermes"), "#!"+filepath.Join(dir, "bin", "python")+"\n", 0o755)
	return filepath.Join(dir, "bin")
}

// The advice to get sealed .env keys back follows the installed Hermes:
// 0.19.0 ignores a secrets.command block (doctor warns even when one is
// configured, and says to use run); a Hermes with the command source gets
// the block.
func TestDoctorSecretsCommandFollowsHermes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no command source on Windows")
	}
	env, dir := fileVaultNoPass(t)
	root := filepath.Dir(dir)
	env["HERMES_KEYS_PASSPHRASE"] = testPassphrase
	if code, _, errOut := runCLI(t, env, "CANARY-advice\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	old := fakeHermes(t, filepath.Join(t.TempDir(), "old"), "0.19.0", false)
	newer := fakeHermes(t, filepath.Join(t.TempDir(), "new"), "0.21.0", true)

	env["PATH"] = old
	_, got, _ := doctorJSON(t, env)
	c := got["secrets-command"]
	if c.Status != checkWarn || !strings.Contains(c.Hint, "hermes-keys run") || !strings.Contains(c.Hint, "0.19.0") || strings.Contains(c.Hint, "add to config.yaml") {
		t.Errorf("0.19.0, not configured: %+v", c)
	}
	writeDoctorFile(t, filepath.Join(root, "config.yaml"), "secrets:\n  command:\n    enabled: true\n    command: \"hermes-keys env\"\n", 0o600)
	_, got, _ = doctorJSON(t, env)
	c = got["secrets-command"]
	if c.Status != checkWarn || !strings.Contains(c.Detail, "ignores it") || !strings.Contains(c.Hint, "hermes-keys run") {
		t.Errorf("0.19.0, configured: %+v", c)
	}

	env["PATH"] = newer
	_, got, _ = doctorJSON(t, env)
	if c := got["secrets-command"]; c.Status != checkOK {
		t.Errorf("0.21.0, configured: %+v", c)
	}
	os.Remove(filepath.Join(root, "config.yaml"))
	_, got, _ = doctorJSON(t, env)
	if c := got["secrets-command"]; c.Status != checkWarn || !strings.Contains(c.Hint, `command: "hermes-keys env"`) {
		t.Errorf("0.21.0, not configured: %+v", c)
	}
}

// migrate --env prints the secrets.command block only for a Hermes that
// runs it.
func TestEnvSnippetFollowsHermes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no command source on Windows")
	}
	for _, c := range []struct {
		version string
		cmd     bool
		block   bool
	}{{"0.19.0", false, false}, {"0.21.0", true, true}} {
		bin := fakeHermes(t, t.TempDir(), c.version, c.cmd)
		a := &App{Env: func(k string) string {
			if k == "PATH" {
				return bin
			}
			return ""
		}}
		s := envSnippetFor(detectHermes(context.Background(), a))
		if strings.Contains(s, "command: \"hermes-keys env\"") != c.block || !strings.Contains(s, "hermes-keys run") {
			t.Errorf("Hermes %s: %s", c.version, s)
		}
	}
	a := &App{Env: func(string) string { return "" }}
	if s := envSnippetFor(detectHermes(context.Background(), a)); strings.Contains(s, "enabled: true") || !strings.Contains(s, "hermes-keys run") {
		t.Errorf("no Hermes: %s", s)
	}
}
