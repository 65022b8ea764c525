package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func TestWrappedProfile(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string // "" for none
	}{
		{[]string{"hermes", "-p", "work", "chat"}, "work"},
		{[]string{"hermes", "--profile", "work"}, "work"},
		{[]string{"hermes", "--profile=work", "gateway"}, "work"},
		{[]string{"hermes", "-pwork"}, ""},           // Hermes's pre-parse reads no attached value
		{[]string{"hermes", "-p", "WORK"}, ""},       // Hermes ignores a name that is not an id
		{[]string{"hermes", "-p", " work"}, ""},      // likewise
		{[]string{"hermes", "-m", "-p", "chat"}, ""}, // -p is -m's value
		{[]string{"hermes", "-m", "x", "-p", "w2"}, "w2"},
		{[]string{"hermes", "-c", "-p", "w3"}, "w3"}, // -c takes no value here
		{[]string{"hermes", "-c", "sess", "-p", "w4"}, "w4"},
		{[]string{"hermes", "mcp", "add", "x", "--args", "docker", "-p", "y"}, ""},
		{[]string{"hermes", "--profile=Work"}, "Work"}, // Hermes resolves (and lowercases) this one
		{[]string{"/usr/local/bin/hermes", "chat", "-p", "late"}, "late"},
		{[]string{"hermes.exe", "-p", "win"}, "win"},
		{[]string{"hermes", "chat"}, ""},
		{[]string{"hermes", "-p"}, ""},                 // no value
		{[]string{"hermes", "--", "-p", "x"}, ""},      // CMD's own arguments end
		{[]string{"hermes", "--pretty", "chat"}, ""},   // not -p
		{[]string{"python3", "-p", "work"}, ""},        // not Hermes: -p is someone else's
		{[]string{"sh", "-c", "hermes -p work"}, ""},   // not parsed through a shell
		{[]string{"hermes", "--profile", "", "x"}, ""}, // empty name
	} {
		got, ok := wrappedProfile(c.argv)
		if got != c.want || c.want != "" && !ok {
			t.Errorf("wrappedProfile(%q) = %q, %v; want %q", c.argv, got, ok, c.want)
		}
	}
}

func envValues(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			out = append(out, v)
		}
	}
	return out
}

// TestBuildChildEnv: run -p (or --hermes-home) sets CMD's HERMES_HOME to
// the home; the rest of the environment is passed through untouched. The
// sealed .env keys are not exported (they are materialised into the home's
// .env, where Hermes loads them), so an inherited value stays as it was.
func TestBuildChildEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin:/bin", "OPENROUTER_API_KEY=inherited", "HERMES_HOME=/h", "EMPTY=", "X=a=b"}
	prof := hermes.Home{Root: "/h", Dir: "/h/profiles/work", Profile: "work"}
	for _, c := range []struct {
		name     string
		a        *App
		setHome  bool
		wantHome string
	}{
		{"inherited home", &App{}, false, "/h"},
		{"run -p", &App{Profile: "work"}, true, "/h/profiles/work"},
		{"--hermes-home", &App{HermesHome: "/h/profiles/work"}, false, "/h/profiles/work"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := buildChildEnv(base, c.a, prof, c.setHome)
			for k, want := range map[string]string{"OPENROUTER_API_KEY": "inherited",
				"HERMES_HOME": c.wantHome, "PATH": "/usr/bin:/bin", "EMPTY": "", "X": "a=b"} {
				if got := envValues(env, k); !slices.Equal(got, []string{want}) {
					t.Errorf("%s = %q, want exactly one %q", k, got, want)
				}
			}
			if len(env) != 5 {
				t.Errorf("env has %d entries, want 5: %q", len(env), env)
			}
		})
	}
	// The base is not modified.
	if base[2] != "HERMES_HOME=/h" {
		t.Error("buildChildEnv changed its input")
	}
}

// TestLookPath: like a shell, 127 when CMD is not found, 126 when it
// cannot be run, and PATH (CMD's, which is run's) is searched.
func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake-hermes")
	plain := filepath.Join(dir, "plain")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644)

	t.Setenv("PATH", dir)
	if got, err := lookPath("fake-hermes"); err != nil || got != exe {
		t.Errorf("lookPath on PATH: %q, %v; want %q", got, err, exe)
	}
	if got, err := lookPath(exe); err != nil || got != exe {
		t.Errorf("lookPath(%q) = %q, %v", exe, got, err)
	}
	// An empty PATH entry means the current directory to a shell; run
	// does not start a program from there by a bare name.
	t.Chdir(dir)
	t.Setenv("PATH", ":/nonexistent")
	if got, err := lookPath("fake-hermes"); err == nil || xerr.Code(err) != 127 {
		t.Errorf("lookPath found %q through an empty PATH entry", got)
	}
	t.Setenv("PATH", dir)
	cases := []struct {
		name string
		code int
	}{
		{"hermes-keys-test-no-such-command", 127},
		{filepath.Join(dir, "missing"), 127},
		{filepath.Join(dir, "no-dir", "hermes"), 127},
		{dir, 126},
	}
	if runtime.GOOS != "windows" {
		cases = append(cases, struct {
			name string
			code int
		}{plain, 126})
	}
	for _, c := range cases {
		_, err := lookPath(c.name)
		if err == nil || xerr.Code(err) != c.code {
			t.Errorf("lookPath(%q): %v (code %d), want code %d", c.name, err, xerr.Code(err), c.code)
		}
	}
}

// TestRunExitStatus: run's error carries CMD's status to Main without a
// message of its own.
func TestRunExitStatus(t *testing.T) {
	if exitWith(0) != nil {
		t.Error("exitWith(0) is an error")
	}
	for _, code := range []int{1, 3, 126, 127, 130, 143, 255} {
		err := exitWith(code)
		if ec, ok := err.(exitCoder); !ok || int(ec) != code {
			t.Errorf("exitWith(%d) = %v", code, err)
		}
	}
}

// TestRunInProcess: CMD's status comes back through Main; a vault that
// cannot be opened fails with exit 4 before CMD starts.
func TestRunInProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	env, _ := fileVault(t)
	marker := filepath.Join(t.TempDir(), "ran")
	if code, _, errOut := runCLI(t, env, "", "run", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("run -- sh -c 'exit 7': exit %d\n%s", code, errOut)
	}
	locked := map[string]string{}
	for k, v := range env {
		if k != "HERMES_KEYS_PASSPHRASE" {
			locked[k] = v
		}
	}
	code, _, errOut := runCLI(t, locked, "", "run", "--", "sh", "-c", "touch "+marker)
	if code != xerr.ExitLocked {
		t.Errorf("run with no passphrase: exit %d, want %d\n%s", code, xerr.ExitLocked, errOut)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("CMD ran although the vault could not be opened")
	}
	root := env["HERMES_HOME"]
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "CANARY") {
				t.Errorf("%s holds a secret after run", p)
			}
		}
		return nil
	})
}
