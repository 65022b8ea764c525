//go:build linux

package realhermes

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRealHermesProfileDirs: profile directories are Hermes's (issue 11
// items 4-6). Real Hermes renames, clones (--clone-all) and deletes
// profiles under `hermes-keys run`; a plain twin does the same without
// hermes-keys. After each step `hermes profile list` is the same in both
// twins (hermes-keys creates no profile, not even a ghost holding a lock
// file), the profile's own `auth list` is the same (the records followed the
// rename; the clone has its credentials), and no file under the sealed
// root holds a secret in plaintext. A deleted profile's records are
// reported orphaned and never come back, not even by unmigrate.
func TestRealHermesProfileDirs(t *testing.T) {
	hermes := hermesBin(t)
	hk := buildHermesKeys(t)
	dir := t.TempDir()

	sealed := newTwin("sealed", filepath.Join(dir, "s"), hermes, hk)
	if err := os.MkdirAll(sealed.home, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"auth", "add", "openrouter", "--api-key", "CANARY-or-root-p1"},
		{"profile", "create", "work", "--no-alias", "--no-skills"},
		{"-p", "work", "auth", "add", "openrouter", "--api-key", "CANARY-or-work-p1"},
		{"-p", "work", "config", "set", "OPENAI_API_KEY", "CANARY-openai-env-work-p1"},
	} {
		mustOK(t, "setup: hermes "+strings.Join(args, " "), sealed.Hermes(t, nil, args...))
	}
	plain := newTwin("plain", filepath.Join(dir, "p"), hermes, hk)
	if err := os.Mkdir(filepath.Join(dir, "p"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", sealed.home, filepath.Join(dir, "p")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	mustOK(t, "migrate", sealed.HK(t, "migrate", "--backend", "file", "--all-profiles", "--env", "--yes"))
	sealed.sealed = true
	scan(t, "after migrate", sealed.home)

	// both runs one Hermes command in both twins, concurrently.
	both := func(what string, args ...string) {
		t.Helper()
		var pr result
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); pr = plain.Hermes(t, nil, args...) }()
		sr := sealed.Hermes(t, nil, args...)
		wg.Wait()
		mustOK(t, what+" (plain)", pr)
		mustOK(t, what+" (sealed, under run)", sr)
		// Right after the run that did it, before any other command
		// could seal what it left.
		scan(t, what, sealed.home)
	}
	// same compares what Hermes shows: the profile list, and each named
	// home's auth list.
	same := func(what string, sealedAfter bool, profiles ...string) {
		t.Helper()
		for _, args := range append([][]string{{"profile", "list"}}, func() [][]string {
			var out [][]string
			for _, p := range profiles {
				out = append(out, pArgs(p, "auth", "list"))
			}
			return out
		}()...) {
			var pr result
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); pr = plain.Hermes(t, nil, args...) }()
			sr := sealed.Hermes(t, nil, args...)
			wg.Wait()
			if p, s := plain.normalise(pr.out), sealed.normalise(sr.out); p != s || pr.code != sr.code {
				t.Errorf("%s: hermes %s differs (exit %d / %d)\n%s", what, strings.Join(args, " "), pr.code, sr.code, diff(p, s))
			}
		}
		if sealedAfter {
			scan(t, what, sealed.home)
		}
	}
	gone := func(what, profile string) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(sealed.root, "profiles", profile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: profiles/%s exists in the sealed twin (%v): a ghost Hermes did not make", what, profile, err)
		}
	}

	// 4. rename: the records follow.
	both("rename", "profile", "rename", "work", "work2")
	gone("rename", "work")
	same("after rename", true, "work2")
	if r := sealed.Hermes(t, nil, "-p", "work2", "auth", "list"); !strings.Contains(r.out, "openrouter") {
		t.Errorf("the renamed profile lost its key under run:\n%s", r)
	}
	gone("after rename", "work")

	// 6. clone-all of the root (materialised by the run): nothing of the
	// clone stays in plaintext; it has the root's credentials, sealed as
	// its own; its copy of the vault directory is reported.
	both("clone-all", "profile", "create", "p2", "--clone-all", "--no-alias")
	same("after clone-all", true, "p2")
	st := sealed.HK(t, "status")
	mustOK(t, "status", st)
	if !strings.Contains(st.out, "profiles/p2/hermes-keys (a copy of the vault directory, never used; remove it: rm -r ") {
		t.Errorf("status does not report the clone's copy of the vault directory:\n%s", st.out)
	}
	if !strings.Contains(st.out, "profile p2 (") || strings.Contains(st.out, canary) {
		t.Errorf("status:\n%s", st.out)
	}

	// 5. delete: no ghost; the records are orphaned, reported, and stay
	// out of every file, unmigrate included.
	both("delete", "profile", "delete", "work2", "--yes")
	gone("delete", "work2")
	same("after delete", true)
	st = sealed.HK(t, "status")
	if !strings.Contains(st.out, "orphaned: Hermes deleted this profile") || !strings.Contains(st.out, "hermes-keys forget -p work2") {
		t.Errorf("status does not report work2's records as orphaned:\n%s", st)
	}
	mustOK(t, "unmigrate", sealed.HK(t, "unmigrate", "--yes"))
	sealed.sealed = false
	gone("unmigrate", "work2")
	// The way out puts back what exists: the same as never migrating.
	same("after unmigrate", false, "", "p2")
	if r := sealed.HK(t, "forget", "-p", "work2", "--yes"); r.code != 0 || !strings.Contains(r.out, "removed profiles/work2/") {
		t.Errorf("forget: %s", r)
	}
	gone("forget", "work2")
}
