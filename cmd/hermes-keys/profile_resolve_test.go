package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// get, put and env resolve the profile exactly as run and Hermes 0.19.0
// do (issue 10 item 5): -p is normalised (Python's strip and lower), a
// HERMES_HOME that is <root>/profiles/<name> is that profile, the sticky
// active_profile applies; a name Hermes refuses is a usage error, and put
// refuses a profile that does not exist. Before, each of these printed
// the root's values.
func TestProfileResolvedAsHermes(t *testing.T) {
	env, dir := fileVault(t)
	root := filepath.Dir(dir)
	work := filepath.Join(root, "profiles", "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	put := func(env map[string]string, stdin string, args ...string) {
		t.Helper()
		if code, _, errOut := runCLI(t, env, stdin, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	put(env, "CANARY-root-or\n", "put", "env:OPENROUTER_API_KEY")
	put(env, "CANARY-work-or\n", "-p", "work", "put", "env:OPENROUTER_API_KEY")
	put(env, `{"tokens":{"access_token":"CANARY-root-a","refresh_token":"CANARY-root-r"}}`, "put", "openai-codex")
	put(env, `{"tokens":{"access_token":"CANARY-work-a","refresh_token":"CANARY-work-r"}}`, "-p", "work", "put", "openai-codex")

	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range env {
			m[a] = b
		}
		m[k] = v
		return m
	}
	workEnv := "OPENROUTER_API_KEY=CANARY-work-or\n"
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"-p WORK env", env, []string{"-p", "WORK", "env"}, workEnv},
		{"-p ' work' env", env, []string{"-p", " work", "env"}, workEnv},
		{"-p 'Work\\t' env", env, []string{"-p", "Work\t", "env"}, workEnv},
		{"HERMES_HOME is the profile", with("HERMES_HOME", work), []string{"env"}, workEnv},
		{"--hermes-home is the profile", env, []string{"--hermes-home", work, "env"}, workEnv},
		{"-p WORK get a field", env, []string{"-p", "WORK", "get", "openai-codex.tokens.refresh_token"}, "CANARY-work-r\n"},
		{"-p WORK get env", env, []string{"-p", "WORK", "get", "env:OPENROUTER_API_KEY"}, "CANARY-work-or\n"},
		{"-p default is the root", env, []string{"-p", "Default", "get", "openai-codex.tokens.refresh_token"}, "CANARY-root-r\n"},
	} {
		code, out, errOut := runCLI(t, c.env, "", c.args...)
		if code != 0 || out != c.want {
			t.Errorf("%s: exit %d, stdout %q, want %q\n%s", c.name, code, out, c.want, errOut)
		}
	}

	// The sticky active profile, as `hermes profile use work` leaves it.
	if err := os.WriteFile(filepath.Join(root, "active_profile"), []byte("work\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "", "env"); code != 0 || out != workEnv {
		t.Errorf("sticky active_profile: exit %d, stdout %q\n%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, env, "", "-p", "default", "env"); code != 0 || out != "OPENROUTER_API_KEY=CANARY-root-or\n" {
		t.Errorf("-p default beats the sticky profile: exit %d, stdout %q", code, out)
	}
	// A sticky name that Hermes refuses to start on is refused too, not
	// read as the root.
	os.WriteFile(filepath.Join(root, "active_profile"), []byte("gone\n"), 0o600)
	if code, out, errOut := runCLI(t, env, "", "env"); code != xerr.ExitFailed || out != "" || !strings.Contains(errOut, "does not exist") {
		t.Errorf("sticky profile that does not exist: exit %d, stdout %q\n%s", code, out, errOut)
	}
	os.Remove(filepath.Join(root, "active_profile"))

	// Names Hermes refuses are usage errors; put refuses a missing
	// profile; neither writes anything.
	before := tree(t, dir)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"-p", "../../x", "put", "env:A"}, xerr.ExitUsage},
		{[]string{"-p", "a/b", "env"}, xerr.ExitUsage},
		{[]string{"-p", "test", "get", "env:OPENROUTER_API_KEY"}, xerr.ExitUsage},
		{[]string{"-p", " ", "env"}, xerr.ExitUsage},
		{[]string{"-p", "nosuch", "put", "env:A"}, xerr.ExitFailed},
		{[]string{"-p", "NoSuch", "put", "openai-codex"}, xerr.ExitFailed},
	} {
		code, out, errOut := runCLI(t, env, "CANARY-never-stored\n", c.args...)
		if code != c.code || out != "" || !strings.HasPrefix(errOut, "hermes-keys: ") {
			t.Errorf("%q: exit %d (want %d), stdout %q\n%s", c.args, code, c.code, out, errOut)
		}
		if c.code == xerr.ExitFailed && !strings.Contains(errOut, "hint: ") {
			t.Errorf("%q: no hint\n%s", c.args, errOut)
		}
	}
	if after := tree(t, dir); after != before {
		t.Errorf("a refused command changed the vault:\n%s\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(root, "profiles", "nosuch")); err == nil {
		t.Error("put created a profile directory")
	}
}
