package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

const testPassphrase = "correct horse battery staple"

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ios, in, out, errOut := iox.Test()
	in.WriteString(stdin)
	code := Main(ios, iox.MapEnv(env), args)
	return code, out.String(), errOut.String()
}

// fileVault makes a Hermes root with a vault whose key is in the file
// backend, and returns the environment that opens it.
func fileVault(t *testing.T) (map[string]string, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), ".hermes")
	dir := filepath.Join(root, broker.DirName)
	env := map[string]string{"HERMES_HOME": root, "HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10"}
	b, err := backends.Open("file", backends.Config{Env: iox.MapEnv(env), Dir: dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := broker.Create(context.Background(), dir, b, broker.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Update(context.Background(), func(c *broker.Contents) (bool, error) {
		return c.Put("providers/nous", "provider", []byte(`{"refresh_token":"CANARY-cli-1"}`), v.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	return env, dir
}

func tree(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		fi, _ := d.Info()
		if !fi.Mode().IsRegular() {
			fmt.Fprintf(&sb, "%s %v\n", p, fi.Mode())
			return nil
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(&sb, "%s %o %x\n", p, fi.Mode().Perm(), b)
		return nil
	})
	return sb.String()
}

func TestStatusOpensFileVault(t *testing.T) {
	env, _ := fileVault(t)
	code, out, errOut := runCLI(t, env, "", "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "providers/nous") || !strings.Contains(out, "backend:     file") {
		t.Fatalf("status output:\n%s", out)
	}
	if strings.Contains(out+errOut, "CANARY") {
		t.Fatal("status printed a secret value")
	}
}

// TestBadInput: each broken state gets a clear error, a hint, the
// documented exit code, and no file changes.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(env map[string]string, dir string)
		code    int
		msg     string
		hint    string
	}{
		{"corrupt vault.age", func(env map[string]string, dir string) {
			os.WriteFile(filepath.Join(dir, broker.VaultFile), []byte("age-encryption.org/v1\n-> garbage\n"), 0o600)
		}, xerr.ExitFailed, "vault is damaged", "restore"},
		{"truncated vault.age", func(env map[string]string, dir string) {
			p := filepath.Join(dir, broker.VaultFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-20], 0o600)
		}, xerr.ExitFailed, "vault is damaged", "restore"},
		{"newer vault.json", func(env map[string]string, dir string) {
			p := filepath.Join(dir, broker.MetaFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), fmt.Sprintf(`"format": %d`, broker.FormatVersion), `"format": 99`, 1)), 0o600)
		}, xerr.ExitFailed, "newer hermes-keys", "upgrade hermes-keys"},
		{"wrong passphrase", func(env map[string]string, dir string) {
			env["HERMES_KEYS_PASSPHRASE"] = "not the passphrase"
		}, xerr.ExitLocked, "wrong passphrase", "passphrase"},
		{"no passphrase, no terminal", func(env map[string]string, dir string) {
			delete(env, "HERMES_KEYS_PASSPHRASE")
		}, xerr.ExitLocked, "no passphrase available", "HERMES_KEYS_PASSPHRASE_FILE"},
		{"group-readable identity file", func(env map[string]string, dir string) {
			os.Chmod(filepath.Join(dir, backends.IdentityFile), 0o640)
		}, xerr.ExitFailed, "readable by other users", "chmod 600"},
		{"group-readable passphrase file", func(env map[string]string, dir string) {
			p := filepath.Join(filepath.Dir(dir), "pass.txt")
			os.WriteFile(p, []byte(testPassphrase+"\n"), 0o644)
			env["HERMES_KEYS_PASSPHRASE_FILE"] = p
		}, xerr.ExitFailed, "readable by other users", "chmod 600"},
		{"missing keychain item", func(env map[string]string, dir string) {
			os.Remove(filepath.Join(dir, backends.IdentityFile))
		}, xerr.ExitFailed, "vault key is missing", "recovery key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := fileVault(t)
			tc.breakIt(env, dir)
			before := tree(t, filepath.Dir(dir))
			code, out, errOut := runCLI(t, env, "", "status")
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.msg) {
				t.Errorf("stderr lacks %q:\n%s", tc.msg, errOut)
			}
			if !strings.Contains(errOut, "\nhint: ") || !strings.Contains(errOut, tc.hint) {
				t.Errorf("stderr lacks a hint with %q:\n%s", tc.hint, errOut)
			}
			if first := strings.TrimPrefix(errOut, "hermes-keys: "); first != "" && first[:1] != strings.ToLower(first[:1]) {
				t.Errorf("message not lowercase: %q", errOut)
			}
			if strings.Contains(out+errOut, "CANARY") || strings.Contains(out+errOut, testPassphrase) {
				t.Fatal("output holds a secret")
			}
			if after := tree(t, filepath.Dir(dir)); after != before {
				t.Fatalf("files changed")
			}
		})
	}
}

func TestUsageExitCodes(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"--no-such-flag"}, {"version", "extra"}, {"status", "--json=maybe"}} {
		if code, _, _ := runCLI(t, map[string]string{}, "", args...); code != xerr.ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, xerr.ExitUsage)
		}
	}
}
