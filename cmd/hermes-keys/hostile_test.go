//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The hostile-home tests (issue 10 item 3) run the real binary as real,
// separate users: an attacker who owns a Hermes home full of planted
// links, a victim with live tokens, and root. They need root (useradd,
// setpriv); elsewhere they skip loudly, and under CI=true they fail.

const hostileCanary = "hk-canary-VICTIM-refresh-7f3a9c"

type hostileUser struct {
	name     string
	uid, gid int
}

type hostile struct {
	t                *testing.T
	top, bin         string
	attacker, victim hostileUser
}

func hostilePrereqs(t *testing.T) {
	t.Helper()
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "it must run as root (to create users and act as each)")
	}
	for _, c := range []string{"setpriv", "useradd", "userdel"} {
		if sbin(c) == "" {
			why = append(why, c+" is missing")
		}
	}
	if len(why) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run the hostile-home tests: %s", strings.Join(why, "; "))
	}
	t.Skipf("SKIPPED the hostile-home tests (another user's planted links): %s", strings.Join(why, "; "))
}

func newHostile(t *testing.T) *hostile {
	hostilePrereqs(t)
	hk := buildBinary(t)
	// Not t.TempDir: its parents are 0700, which the users cannot pass.
	top, err := os.MkdirTemp("", "hk-hostile-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(top) })
	must(t, os.Chmod(top, 0o755))
	h := &hostile{t: t, top: top}
	must(t, os.Mkdir(filepath.Join(top, "bin"), 0o755))
	h.bin = filepath.Join(top, "bin", "hermes-keys")
	b, err := os.ReadFile(hk)
	must(t, err)
	must(t, os.WriteFile(h.bin, b, 0o755))
	h.attacker = h.makeUser("hkatk")
	h.victim = h.makeUser("hkvic")
	return h
}

func (h *hostile) makeUser(prefix string) hostileUser {
	t := h.t
	r := make([]byte, 3)
	rand.Read(r)
	name := prefix + hex.EncodeToString(r)
	out, err := exec.Command(sbin("useradd"), "--system", "--no-create-home", "--home-dir", filepath.Join(h.top, name),
		"--shell", "/usr/sbin/nologin", "--user-group", "--comment", "hermes-keys hostile-home test", name).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
		t.Skipf("SKIPPED the hostile-home tests: useradd %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command(sbin("userdel"), name).Run() })
	u, err := user.Lookup(name)
	must(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		t.Fatalf("useradd gave uid 0")
	}
	return hostileUser{name: name, uid: uid, gid: gid}
}

// mkdir makes dir (0755 unless mode says otherwise) owned by u.
func (h *hostile) mkdir(p string, mode os.FileMode, u *hostileUser) {
	must(h.t, os.MkdirAll(p, mode))
	must(h.t, os.Chmod(p, mode))
	if u != nil {
		must(h.t, os.Chown(p, u.uid, u.gid))
	}
}

func (h *hostile) write(p, content string, mode os.FileMode, u *hostileUser) {
	must(h.t, os.WriteFile(p, []byte(content), mode))
	if u != nil {
		must(h.t, os.Chown(p, u.uid, u.gid))
	}
}

func (h *hostile) link(target, p string, u *hostileUser) {
	must(h.t, os.Symlink(target, p))
	if u != nil {
		must(h.t, os.Lchown(p, u.uid, u.gid))
	}
}

// run runs the binary as u (nil: root) on HERMES_HOME home.
func (h *hostile) run(u *hostileUser, home, stdin string, args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	runDir := filepath.Join(h.top, "run-"+strconv.Itoa(os.Getpid()))
	var cmd *exec.Cmd
	if u == nil {
		cmd = exec.Command(h.bin, args...)
	} else {
		runDir = filepath.Join(h.top, "run-"+u.name)
		cmd = exec.Command(sbin("setpriv"), append([]string{"--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid), "--clear-groups", "--", h.bin}, args...)...)
	}
	if _, err := os.Stat(runDir); err != nil {
		h.mkdir(runDir, 0o700, u)
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Dir(home), "HERMES_HOME=" + home,
		"XDG_RUNTIME_DIR=" + runDir, "HERMES_KEYS_BACKEND=file", "HERMES_KEYS_PASSPHRASE=hostile test passphrase",
		"HERMES_KEYS_TEST_SCRYPT=10", "LANG=C.UTF-8"}
	cmd.Dir = h.top
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("%v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// fileState is what a test compares before and after: type, mode, owner,
// link target or content hash.
type fileState struct {
	mode     fs.FileMode
	uid, gid uint32
	what     string
}

// snapshot records every path under each of roots (a missing root too).
func snapshot(t *testing.T, roots ...string) map[string]fileState {
	out := map[string]fileState{}
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				out[p] = fileState{what: "missing"}
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				out[p] = fileState{what: "missing"}
				return nil
			}
			st := fi.Sys().(*syscall.Stat_t)
			s := fileState{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				s.what, _ = os.Readlink(p)
			case fi.Mode().IsRegular():
				b, _ := os.ReadFile(p)
				s.what = fmt.Sprintf("%x", sha256.Sum256(b))
			}
			out[p] = s
			return nil
		})
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]fileState) {
	t.Helper()
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s: %s vanished", what, p)
		} else if a != b {
			t.Errorf("%s: %s changed: %+v -> %+v", what, p, b, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

const victimAuth = `{
  "version": 1,
  "active_provider": "openai-codex",
  "providers": {
    "openai-codex": {
      "tokens": {"access_token": "hk-canary-VICTIM-access-1b2c", "refresh_token": "` + hostileCanary + `"},
      "last_refresh": "2026-11-30T10:00:00Z",
      "auth_mode": "chatgpt"
    }
  }
}
`

// Root, and the victim, acting on the attacker's home: every command that
// touches a home refuses with exit 1 and the hint to run as the owner, and
// nothing anywhere is created, chmodded or written. Before the guard, a
// plain `status` as root created /etc-like files through auth.lock,
// chmodded the linked "system" directory to 0700 and sealed the victim's
// tokens into the attacker's vault.
func TestHostileHomeRefused(t *testing.T) {
	h := newHostile(t)
	atk, vic := &h.attacker, &h.victim

	// A root-owned "system" area the links point into.
	sys := filepath.Join(h.top, "system")
	h.mkdir(filepath.Join(sys, "opt-x"), 0o755, nil)
	h.write(filepath.Join(sys, "opt-x", "keep"), "system file\n", 0o644, nil)

	// The victim's real home, with live tokens.
	vicRoot := filepath.Join(h.top, "victim", ".hermes")
	h.mkdir(filepath.Dir(vicRoot), 0o755, vic)
	h.mkdir(vicRoot, 0o755, vic) // traversable: the link must not be, by the rule, not by chance
	vicAuth := filepath.Join(vicRoot, "auth.json")
	h.write(vicAuth, victimAuth, 0o644, vic)

	// The attacker's home, with planted links and a stale session file.
	atkRoot := filepath.Join(h.top, "attacker", ".hermes")
	h.mkdir(filepath.Dir(atkRoot), 0o755, atk)
	h.mkdir(atkRoot, 0o755, atk)
	h.link(vicAuth, filepath.Join(atkRoot, "auth.json"), atk)
	h.link(filepath.Join(sys, "nologin"), filepath.Join(atkRoot, "auth.lock"), atk)
	h.link(filepath.Join(sys, "opt-x"), filepath.Join(atkRoot, "shared"), atk)
	h.link(filepath.Join(sys, "evil.sh"), filepath.Join(atkRoot, ".anthropic_oauth.json"), atk)
	h.mkdir(filepath.Join(atkRoot, "hermes-keys", "sessions"), 0o755, atk)
	h.write(filepath.Join(atkRoot, "hermes-keys", "sessions", "4242-abcdef.session"), `["providers/openai-codex"]`, 0o644, atk)
	h.mkdir(filepath.Join(atkRoot, "profiles", "work"), 0o755, atk)

	vicBytes, _ := os.ReadFile(vicAuth)
	before := snapshot(t, h.top+"/system", h.top+"/victim", h.top+"/attacker")

	cmds := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"status"}},
		{"", []string{"status", "--json"}},
		{"", []string{"seal"}},
		{"", []string{"migrate", "--yes"}},
		{"", []string{"migrate", "--yes", "--env"}},
		{"", []string{"unmigrate", "--yes"}},
		{"", []string{"run", "--", "/bin/true"}},
		{"", []string{"get", "openai-codex.tokens.refresh_token"}},
		{"x", []string{"put", "env:HOSTILE_A"}},
		{"", []string{"env"}},
		{"", []string{"-p", "work", "env"}},
		{"", []string{"-p", "work", "status"}},
	}
	for _, who := range []*hostileUser{nil, vic} {
		name := "root"
		if who != nil {
			name = who.name
		}
		for _, c := range cmds {
			code, out, errOut := h.run(who, atkRoot, c.stdin, c.args...)
			what := fmt.Sprintf("%s: hermes-keys %s", name, strings.Join(c.args, " "))
			if code != 1 {
				t.Errorf("%s: exit %d, want 1\n%s", what, code, errOut)
			}
			if !strings.Contains(errOut, "not yours") || !strings.Contains(errOut, "hint: ") || !strings.Contains(errOut, "sudo -u "+atk.name+" hermes-keys") {
				t.Errorf("%s: no refusal naming the owner:\n%s", what, errOut)
			}
			if strings.Contains(out+errOut, hostileCanary) {
				t.Errorf("%s printed the victim's token", what)
			}
		}
	}
	sameSnapshot(t, "after root and the victim ran on the attacker's home", before, snapshot(t, h.top+"/system", h.top+"/victim", h.top+"/attacker"))
	if b, _ := os.ReadFile(vicAuth); !bytes.Equal(b, vicBytes) {
		t.Error("the victim's auth.json changed")
	}
	// doctor reports rather than refuses, but must not act either.
	code, _, errOut := h.run(nil, atkRoot, "", "doctor")
	if code == 0 {
		t.Errorf("doctor on another user's home passed:\n%s", errOut)
	}
	sameSnapshot(t, "after doctor", before, snapshot(t, h.top+"/system", h.top+"/victim", h.top+"/attacker"))
}

// The attacker on their own home: links where hermes-keys keeps its own
// files (the hermes-keys/ directory, auth.lock), and a secret document
// linked to another user's file, are refused and never followed.
func TestHostileOwnHomeLinksNotFollowed(t *testing.T) {
	h := newHostile(t)
	atk, vic := &h.attacker, &h.victim
	vicRoot := filepath.Join(h.top, "victim", ".hermes")
	h.mkdir(vicRoot, 0o755, vic)
	vicAuth := filepath.Join(vicRoot, "auth.json")
	h.write(vicAuth, victimAuth, 0o644, vic)

	elsewhere := filepath.Join(h.top, "attacker", "elsewhere")
	h.mkdir(elsewhere, 0o755, atk)
	own := func(name string) string {
		root := filepath.Join(h.top, "attacker", name, ".hermes")
		h.mkdir(filepath.Dir(root), 0o755, atk)
		h.mkdir(root, 0o700, atk)
		h.write(filepath.Join(root, "auth.json"), strings.ReplaceAll(victimAuth, "VICTIM", "ATTACKER"), 0o600, atk)
		return root
	}

	// hermes-keys/ is a link to a directory of the attacker's own.
	linkedVault := own("linked-vault")
	h.link(elsewhere, filepath.Join(linkedVault, "hermes-keys"), atk)
	// auth.lock is a dangling link.
	linkedLock := own("linked-lock")
	h.link(filepath.Join(elsewhere, "lock-target"), filepath.Join(linkedLock, "auth.lock"), atk)
	// auth.json is a link to the victim's file.
	linkedAuth := own("linked-auth")
	must(t, os.Remove(filepath.Join(linkedAuth, "auth.json")))
	h.link(vicAuth, filepath.Join(linkedAuth, "auth.json"), atk)

	before := snapshot(t, elsewhere, vicRoot)
	for _, c := range []struct {
		home string
		args []string
		want string
	}{
		{linkedVault, []string{"status"}, "symbolic link"},
		{linkedVault, []string{"migrate", "--yes"}, "symbolic link"},
		{linkedLock, []string{"migrate", "--yes"}, "symbolic link"},
		{linkedAuth, []string{"migrate", "--yes"}, "symbolic link to " + vic.name},
		{linkedAuth, []string{"status"}, ""},
	} {
		authBefore := snapshot(t, filepath.Join(c.home, "auth.json"))
		code, out, errOut := h.run(atk, c.home, "", c.args...)
		what := fmt.Sprintf("%s: hermes-keys %s", filepath.Base(filepath.Dir(c.home)), strings.Join(c.args, " "))
		if c.want != "" && (code == 0 || !strings.Contains(errOut, c.want)) {
			t.Errorf("%s: exit %d, want a refusal naming %q:\n%s", what, code, c.want, errOut)
		}
		if strings.Contains(out+errOut, hostileCanary) {
			t.Errorf("%s printed the victim's token", what)
		}
		sameSnapshot(t, what, authBefore, snapshot(t, filepath.Join(c.home, "auth.json")))
	}
	sameSnapshot(t, "link targets", before, snapshot(t, elsewhere, vicRoot))
}
