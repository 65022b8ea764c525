//go:build unix

package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode"
)

// These tests run the real binary as an unprivileged user: as root (CI),
// through setpriv as nobody (65534), since permission bits do not stop
// root; as anyone else, as themselves, with the read-only directories at
// 0500.

const nobody = 65534

// roEnv is a sandbox for one case: base (the HOME) holds .hermes (the
// root); everything is readable by the user the binary runs as. The
// binary, when copied, lives beside base, not in it.
type roEnv struct {
	t          *testing.T
	bin        string
	base, root string
	asRoot     bool
}

func newROEnv(t *testing.T, bin string) *roEnv {
	t.Helper()
	asRoot := os.Geteuid() == 0
	if asRoot {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Skip("running as root without setpriv (util-linux) to drop privileges")
		}
	}
	// Not t.TempDir: its parents are 0700, which nobody cannot traverse.
	top, err := os.MkdirTemp("", "hk-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Give write back (0500 directories) so that the tree can go.
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		os.RemoveAll(top)
	})
	os.Chmod(top, 0o755)
	base := filepath.Join(top, "home")
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &roEnv{t: t, bin: bin, base: base, root: filepath.Join(base, ".hermes"), asRoot: asRoot}
	if asRoot {
		// The binary's own directory is 0700 root's; give nobody a copy.
		e.bin = filepath.Join(top, "hermes-keys")
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// put writes a file (and its directories, 0755) readable by everyone.
func (e *roEnv) put(rel, content string) string {
	e.t.Helper()
	p := filepath.Join(e.base, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// own makes rel (under base) and everything below it the runner's, and
// private to it, as a user's own Hermes home is.
func (e *roEnv) own(rel string) {
	e.t.Helper()
	err := filepath.WalkDir(filepath.Join(e.base, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.asRoot {
			if err := os.Lchown(p, nobody, nobody); err != nil {
				return err
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// readOnly makes the directory rel (under base) one the runner can read
// and search but not create files in: nobody's at 0555 when we drop to
// nobody, the runner's own at 0500 otherwise. Files in it stay readable.
func (e *roEnv) readOnly(rel string) {
	e.t.Helper()
	p := filepath.Join(e.base, rel)
	if e.asRoot {
		// Nobody's own, and closed to it (hermes-keys refuses a home of
		// another uid, so root's would fail for that reason instead).
		err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(q, nobody, nobody)
		})
		if err == nil {
			err = os.Chmod(p, 0o555)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return
	}
	if err := os.Chmod(p, 0o500); err != nil {
		e.t.Fatal(err)
	}
}

// run runs the binary as the unprivileged user and returns its exit code
// and combined output.
func (e *roEnv) run(args ...string) (int, string) {
	e.t.Helper()
	name, argv := e.bin, args
	if e.asRoot {
		name = "setpriv"
		argv = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", e.bin}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = []string{"HERMES_HOME=" + e.root, "HOME=" + e.base, "PATH=/usr/bin:/bin",
		"HERMES_KEYS_BACKEND=file", "HERMES_KEYS_PASSPHRASE=" + testPassphrase, "HERMES_KEYS_TEST_SCRYPT=10"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
			return ee.ExitCode(), string(out)
		}
		e.t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return 0, string(out)
}

const roStore = `{
  "version": 1,
  "providers": {
    "nous": {"access_token": "CANARY-ro-access", "refresh_token": "CANARY-ro-refresh", "client_id": "hermes-cli"}
  },
  "active_provider": "nous"
}
`

// TestMigrateReadOnlyHome: when the directory auth.json must be renamed
// into refuses new files (the home itself, a profile, or the directory a
// symlinked auth.json points into), migrate fails before it creates or
// changes anything: exit 1, a lowercase error naming the directory, a
// hint; every file byte-identical, no vault, no temp file.
func TestMigrateReadOnlyHome(t *testing.T) {
	bin := buildBinary(t)
	cases := []struct {
		name  string
		setup func(e *roEnv)
		args  []string
		dir   string // the unwritable directory the error must name
	}{
		{"home", func(e *roEnv) {
			e.put(".hermes/auth.json", roStore)
			e.put(".hermes/.env", "OPENAI_API_KEY=CANARY-ro-env\n")
			e.readOnly(".hermes")
			e.readOnly(".") // the vault would go in the root; HOME too is closed
		}, []string{"migrate", "--env", "--yes"}, ".hermes"},
		{"home with auth.lock left by hermes", func(e *roEnv) {
			e.put(".hermes/auth.json", roStore)
			os.Chmod(e.put(".hermes/auth.lock", ""), 0o666) // openable, so the lock is not what fails
			e.readOnly(".hermes")
			e.readOnly(".")
		}, []string{"migrate", "--yes"}, ".hermes"},
		{"profile", func(e *roEnv) {
			e.put(".hermes/auth.json", `{"version": 1, "providers": {}}`)
			e.put(".hermes/profiles/work/auth.json", roStore)
			os.Chmod(e.put(".hermes/profiles/work/auth.lock", ""), 0o666)
			e.own(".hermes")
			e.readOnly(".hermes/profiles/work") // the root, where the vault goes, is writable
		}, []string{"migrate", "--all-profiles", "--yes"}, ".hermes/profiles/work"},
		{"symlinked auth.json", func(e *roEnv) {
			e.put("store/hermes-auth.json", roStore)
			e.put(".hermes/config.yaml", "")
			if err := os.Symlink("../store/hermes-auth.json", filepath.Join(e.root, "auth.json")); err != nil {
				t.Fatal(err)
			}
			e.own(".hermes")
			e.readOnly("store")
		}, []string{"migrate", "--yes"}, "store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newROEnv(t, bin)
			tc.setup(e)
			before := tree(t, e.base)
			code, out := e.run(append(tc.args, "--lock-timeout", "2s")...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			dir := filepath.Join(e.base, tc.dir)
			if !strings.Contains(out, dir+": directory is not writable") || !strings.Contains(out, "\nhint: ") {
				t.Errorf("output does not name %s as not writable, or has no hint:\n%s", dir, out)
			}
			if i := strings.Index(out, "hermes-keys: "); i < 0 || unicode.IsUpper([]rune(out[i+len("hermes-keys: "):])[0]) {
				t.Errorf("no lowercase error line:\n%s", out)
			}
			if strings.Contains(out, "CANARY") {
				t.Error("output repeats a secret")
			}
			if strings.Contains(out, "created vault") {
				t.Error("a vault was created before the failure")
			}
			if _, err := os.Lstat(filepath.Join(e.root, "hermes-keys")); err == nil {
				t.Error("the vault directory exists")
			}
			// Byte for byte, mode for mode, and no new file anywhere (temp
			// files included); lock files are the only exception.
			if after := tree(t, e.base); after != before {
				t.Errorf("files changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
}

// TestMigrateReadOnlyAuthFile: auth.json itself read-only (0400) in a
// writable home is not an error. Hermes replaces it by rename on its next
// save, which needs no write permission on the file; so do we: migrate
// seals it and the skeleton ends at 0600, and unmigrate puts it back the
// same way.
func TestMigrateReadOnlyAuthFile(t *testing.T) {
	bin := buildBinary(t)
	e := newROEnv(t, bin)
	auth := e.put(".hermes/auth.json", roStore)
	e.own(".hermes")
	os.Chmod(auth, 0o400)
	if code, out := e.run("migrate", "--yes"); code != 0 {
		t.Fatalf("migrate of a 0400 auth.json: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(auth)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "CANARY") || !json.Valid(b) || !strings.Contains(string(b), `"hermes_keys"`) {
		t.Fatalf("auth.json is not the sealed skeleton:\n%s", b)
	}
	if fi, _ := os.Stat(auth); fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.json mode %o after migrate, want 600", fi.Mode().Perm())
	}
	os.Chmod(auth, 0o400)
	if code, out := e.run("unmigrate", "--yes"); code != 0 {
		t.Fatalf("unmigrate of a 0400 auth.json: exit %d\n%s", code, out)
	}
	if got, want := readJSON(t, auth), readJSONString(t, roStore); !jsonEqual(got, want) {
		t.Errorf("unmigrate did not restore the store: %v", got)
	}
	if fi, _ := os.Stat(auth); fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.json mode %o after unmigrate, want 600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(auth); err == nil && e.asRoot {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != nobody {
			t.Errorf("auth.json now belongs to uid %d", st.Uid)
		}
	}
}

func readJSONString(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
