//go:build linux

package realhermes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// canary is in every secret value the suite creates (API keys, and the
// signature segment and refresh token of every minted login), so one byte
// scan finds every copy of every secret.
const canary = "CANARY"

const passphrase = "realhermes test passphrase"

// hermesBin returns the real Hermes CLI from HERMES_KEYS_REAL_HERMES (set by
// scripts/test after scripts/install-hermes). Without it the suite cannot
// run: in CI that fails, elsewhere it is skipped with a notice.
func hermesBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HERMES_KEYS_REAL_HERMES")
	if p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			t.Fatalf("HERMES_KEYS_REAL_HERMES=%s is not a program: %v", p, err)
		}
		return p
	}
	why := "HERMES_KEYS_REAL_HERMES is not set, so no real Hermes was installed"
	if os.Getenv("CI") == "true" {
		t.Fatalf("the real-Hermes suite cannot run in CI: %s (scripts/test installs it with scripts/install-hermes)", why)
	}
	t.Skipf("REAL HERMES SUITE SKIPPED: %s; run scripts/install-hermes and set it to <venv>/bin/hermes", why)
	return ""
}

// buildHermesKeys builds the command with the test hooks (for a cheap
// scrypt cost of the file backend).
func buildHermesKeys(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hermes-keys")
	out, err := exec.Command("go", "build", "-tags", "testhooks", "-o", bin, "../../cmd/hermes-keys").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func shimDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Join(filepath.Dir(file), "testdata", "shim")
	if _, err := os.Stat(filepath.Join(d, "sitecustomize.py")); err != nil {
		t.Fatal(err)
	}
	return d
}

// twin is one Hermes root with a HOME of its own. The plain twin is never
// migrated and runs Hermes directly; the sealed twin is migrated and runs
// Hermes through `hermes-keys run`.
type twin struct {
	name   string
	home   string // HOME
	root   string // HOME/.hermes
	sealed bool
	hermes string
	hk     string
	env    []string
}

func newTwin(name, dir, hermes, hk string) *twin {
	home := filepath.Join(dir, "home")
	tw := &twin{name: name, home: home, root: filepath.Join(home, ".hermes"), hermes: hermes, hk: hk}
	tw.setEnv(dir)
	return tw
}

func (tw *twin) setEnv(dir string) {
	tw.env = []string{
		"HOME=" + tw.home,
		"HERMES_HOME=" + tw.root,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"TERM=dumb",
		"NO_COLOR=1",
		"TZ=UTC",
		"PYTHONDONTWRITEBYTECODE=1",
		// No network: every proxy at a closed port.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "ALL_PROXY=http://127.0.0.1:9",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "all_proxy=http://127.0.0.1:9",
		"NO_PROXY=", "no_proxy=",
		// hermes-keys: the file backend, no daemon, no session bus.
		"HERMES_KEYS_PASSPHRASE=" + passphrase,
		"HERMES_KEYS_TEST_SCRYPT=10",
		"HERMES_KEYS_SOCKET=" + filepath.Join(dir, "no-daemon.sock"),
		"DBUS_SESSION_BUS_ADDRESS=",
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"),
	}
}

// result is one finished process.
type result struct {
	code        int
	out, errOut string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.out, r.errOut)
}

func run(t *testing.T, env []string, timeout time.Duration, name string, args ...string) result {
	t.Helper()
	c := exec.Command(name, args...)
	c.Env = env
	c.Stdin = nil // /dev/null: Hermes takes the defaults of every prompt
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) // ours: the group we started
		<-done
		t.Fatalf("%s %s: no exit within %v (killed)\n%s%s", filepath.Base(name), strings.Join(args, " "), timeout, out.String(), errOut.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

// Hermes runs one Hermes command: directly for the plain twin, through
// `hermes-keys run` for the sealed one.
func (tw *twin) Hermes(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	env := append(append([]string(nil), tw.env...), extraEnv...)
	if tw.sealed {
		return run(t, env, 3*time.Minute, tw.hk, append([]string{"run", "--", tw.hermes}, args...)...)
	}
	return run(t, env, 3*time.Minute, tw.hermes, args...)
}

// HK runs hermes-keys.
func (tw *twin) HK(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, tw.env, 3*time.Minute, tw.hk, args...)
}

// home names a Hermes home of the root: "" is the root, else a profile.
func pArgs(profile string, args ...string) []string {
	if profile == "" {
		return args
	}
	return append([]string{"-p", profile}, args...)
}

// view is what Hermes shows of one home: `auth list` and `status`, with the
// twin's own paths replaced by placeholders.
func (tw *twin) view(t *testing.T, profile string) string {
	t.Helper()
	var b strings.Builder
	for _, cmd := range [][]string{{"auth", "list"}, {"status"}} {
		r := tw.Hermes(t, nil, pArgs(profile, cmd...)...)
		fmt.Fprintf(&b, "$ hermes %s (exit %d)\n%s", strings.Join(pArgs(profile, cmd...), " "), r.code, r.out)
		if r.code != 0 {
			fmt.Fprintf(&b, "stderr:\n%s", r.errOut)
		}
	}
	return tw.normalise(b.String())
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func (tw *twin) normalise(s string) string {
	s = ansi.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, tw.root, "<ROOT>")
	s = strings.ReplaceAll(s, tw.home, "<HOME>")
	return s
}

// views takes the views of every home listed, the twins' side by side.
func views(t *testing.T, tw *twin, homes []string) map[string]string {
	t.Helper()
	v := map[string]string{}
	for _, h := range homes {
		v[h] = tw.view(t, h)
	}
	return v
}

// bothViews takes the views of the two twins concurrently (Hermes takes
// about two seconds a command).
func bothViews(t *testing.T, plain, sealed *twin, homes []string) (pv, sv map[string]string) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pv = views(t, plain, homes)
	}()
	sv = views(t, sealed, homes)
	wg.Wait()
	return pv, sv
}

func homeName(h string) string {
	if h == "" {
		return "root"
	}
	return "profile " + h
}

// sameViews fails for each home whose view differs, printing both.
func sameViews(t *testing.T, what string, want, got map[string]string, homes []string) {
	t.Helper()
	for _, h := range homes {
		if want[h] != got[h] {
			t.Errorf("%s: %s: Hermes's view differs\n%s", what, homeName(h), diff(want[h], got[h]))
		}
	}
}

// diff is a line diff good enough for a test log: the lines only one side
// has, in order.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	count := func(ls []string) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l]++
		}
		return m
	}
	wc, gc := count(wl), count(gl)
	var b strings.Builder
	b.WriteString("--- want (plain twin) / +++ got (sealed twin, under run)\n")
	for _, l := range wl {
		if gc[l] > 0 {
			gc[l]--
			continue
		}
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range gl {
		if wc[l] > 0 {
			wc[l]--
			continue
		}
		fmt.Fprintf(&b, "+ %s\n", l)
	}
	return b.String()
}

// scan fails naming every file under dir that holds a canary in plaintext
// (names only, never the bytes).
func scan(t *testing.T, what, dir string) {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(canary)) {
			rel, _ := filepath.Rel(dir, p)
			hits = append(hits, rel)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: scan: %v", what, err)
	}
	if len(hits) > 0 {
		sort.Strings(hits)
		t.Errorf("%s: a secret is left in plaintext under the root, in: %s", what, strings.Join(hits, ", "))
	}
}

func mustOK(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
}

// step is one Hermes command applied to both twins.
type step struct {
	name string
	args []string
	// homes after the step (profiles created, renamed, deleted)
	homes []string
}

func TestRealHermes(t *testing.T) {
	hermes := hermesBin(t)
	hk := buildHermesKeys(t)
	shim := shimDir(t)
	dir := t.TempDir()

	sealed := newTwin("sealed", filepath.Join(dir, "s"), hermes, hk)
	if err := os.MkdirAll(sealed.home, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := sealed.Hermes(t, nil, "--version"); r.code != 0 || !strings.Contains(r.out, "v0.19.0 ") {
		t.Fatalf("the suite is written for Hermes 0.19.0: %s", r)
	}

	// Hermes's own commands create the credentials. The logins run Hermes's
	// device-code code with only the HTTP exchange replaced (the shim).
	login := func(tag string) []string {
		return []string{"PYTHONPATH=" + shim, "HK_SHIM_TAG=" + tag}
	}
	setup := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"auth", "add", "openrouter", "--api-key", "CANARY-or-root-1"}},
		{login("root"), []string{"auth", "add", "openai-codex"}},
		{login("root"), []string{"auth", "add", "nous", "--no-browser"}},
		{nil, []string{"config", "set", "OPENAI_API_KEY", "CANARY-openai-env-root-1"}},
		{nil, []string{"profile", "create", "work", "--no-alias", "--no-skills"}},
		{login("work"), []string{"-p", "work", "auth", "add", "openai-codex"}},
		{nil, []string{"-p", "work", "config", "set", "OPENROUTER_API_KEY", "CANARY-or-env-work-1"}},
		{nil, []string{"-p", "work", "auth", "add", "anthropic", "--type", "api-key", "--api-key", "CANARY-anthropic-work-1"}},
	}
	for _, s := range setup {
		mustOK(t, "setup: hermes "+strings.Join(s.args, " "), sealed.Hermes(t, s.env, s.args...))
	}

	// The plain twin: a byte copy of the root before migration.
	plain := newTwin("plain", filepath.Join(dir, "p"), hermes, hk)
	if err := os.Mkdir(filepath.Join(dir, "p"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "s", "home"), filepath.Join(dir, "p")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	homes := []string{"", "work"}

	mustOK(t, "migrate", sealed.HK(t, "migrate", "--backend", "file", "--all-profiles", "--env", "--yes"))
	sealed.sealed = true
	scan(t, "after migrate", sealed.home)

	t.Run("migrated", func(t *testing.T) {
		pv, sv := bothViews(t, plain, sealed, homes)
		// The views tell logged in from not: the logins are there for the
		// plain twin, and Hermes started without run sees none of them.
		for _, want := range []string{"hk-root@example.invalid", "Nous Portal   ✓ logged in", "OpenAI        ✓ CANA"} {
			if !strings.Contains(pv[""], want) {
				t.Errorf("plain twin, root: the view lacks %q:\n%s", want, pv[""])
			}
		}
		if !strings.Contains(pv["work"], "hk-work@example.invalid") || !strings.Contains(pv["work"], "OpenRouter    ✓ CANA") {
			t.Errorf("plain twin, profile work: the view lacks its own login or key:\n%s", pv["work"])
		}
		sealed.sealed = false
		bare := sealed.view(t, "")
		sealed.sealed = true
		if bare == pv[""] || strings.Contains(bare, "hk-root@example.invalid") || !strings.Contains(bare, "Nous Portal   ✗ not logged in") {
			t.Errorf("Hermes without run still sees the sealed logins:\n%s", bare)
		}
		sameViews(t, "under run after migrate", pv, sv, homes)
		scan(t, "after the views", sealed.home)
	})

	// The advice for sealed .env keys follows the installed Hermes: 0.19.0
	// has no command secret source, so doctor says run, not secrets.command.
	t.Run("secrets-command advice", func(t *testing.T) {
		env := append(append([]string(nil), sealed.env...), "PATH="+filepath.Dir(hermes)+":/usr/local/bin:/usr/bin:/bin")
		r := run(t, env, 3*time.Minute, hk, "doctor", "--json")
		var checks []struct {
			Check, Status, Detail, Hint string
		}
		if err := json.Unmarshal([]byte(r.out), &checks); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, r)
		}
		found := false
		for _, c := range checks {
			if c.Check == "secrets-command" {
				found = true
				if !strings.Contains(c.Hint, "0.19.0") || !strings.Contains(c.Hint, "hermes-keys run") || strings.Contains(c.Hint, "add to config.yaml") {
					t.Errorf("doctor's advice does not fit Hermes 0.19.0: %+v", c)
				}
			}
		}
		if !found {
			t.Errorf("no secrets-command check:\n%s", r.out)
		}
	})

	steps := []step{
		{"auth add", []string{"auth", "add", "openrouter", "--api-key", "CANARY-or-root-2", "--label", "second"}, homes},
		{"auth add (profile)", []string{"-p", "work", "auth", "add", "openrouter", "--api-key", "CANARY-or-work-2", "--label", "second"}, homes},
		{"auth remove", []string{"auth", "remove", "openrouter", "1"}, homes},
		{"auth remove (profile)", []string{"-p", "work", "auth", "remove", "anthropic", "1"}, homes},
		{"logout", []string{"logout", "--provider", "nous"}, homes},
		{"logout (profile)", []string{"-p", "work", "logout", "--provider", "openai-codex"}, homes},
		{"config set", []string{"config", "set", "OPENROUTER_API_KEY", "CANARY-or-env-root-2"}, homes},
		{"config set (profile)", []string{"-p", "work", "config", "set", "OPENAI_API_KEY", "CANARY-openai-env-work-2"}, homes},
		// Under -p work run materialises work, so Hermes copies its
		// plaintext into the clone while the run lives.
		{"profile create --clone-all", []string{"-p", "work", "profile", "create", "clone", "--clone-all", "--no-alias"}, []string{"", "work", "clone"}},
		// From the root, the source profile is a skeleton: the clone gets
		// its records by the marker Hermes copied.
		{"profile create --clone-all --clone-from", []string{"profile", "create", "clone2", "--clone-all", "--clone-from", "work", "--no-alias"}, []string{"", "work", "clone", "clone2"}},
		{"config set (clone)", []string{"-p", "clone", "config", "set", "OPENROUTER_API_KEY", "CANARY-or-env-clone-3"}, []string{"", "work", "clone", "clone2"}},
		{"profile rename", []string{"profile", "rename", "clone", "renamed"}, []string{"", "work", "renamed", "clone2"}},
		{"profile delete", []string{"profile", "delete", "renamed", "--yes"}, []string{"", "work", "clone2"}},
		{"profile delete (clone2)", []string{"profile", "delete", "clone2", "--yes"}, homes},
	}
	var last map[string]string
	lastHomes := homes
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			var pr, sr result
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				pr = plain.Hermes(t, nil, s.args...)
			}()
			sr = sealed.Hermes(t, nil, s.args...)
			wg.Wait()
			t.Logf("plain twin: hermes %s: exit %d", strings.Join(s.args, " "), pr.code)
			if pr.code != 0 {
				t.Fatalf("the command fails on plain Hermes: %s", pr)
			}
			if sr.code != 0 {
				t.Errorf("under run: hermes %s: %s", strings.Join(s.args, " "), sr)
			}
			if strings.Contains(sr.errOut, canary) && !strings.Contains(pr.errOut, canary) {
				t.Errorf("under run: a secret on stderr")
			}
			scan(t, "after the command", sealed.home)
			pv, sv := bothViews(t, plain, sealed, s.homes)
			sameViews(t, "under run after "+s.name, pv, sv, s.homes)
			scan(t, "after the views", sealed.home)
			last, lastHomes = sv, s.homes
		})
	}

	// `hermes backup` under run zips the live root, materialised tokens
	// included, to ~/hermes-backup-<stamp>.zip: status and doctor name it
	// (member names and counts, never values).
	t.Run("backup", func(t *testing.T) {
		r := sealed.Hermes(t, nil, "backup")
		mustOK(t, "hermes backup under run", r)
		zips, _ := filepath.Glob(filepath.Join(sealed.home, "hermes-backup-*.zip"))
		if len(zips) != 1 {
			t.Fatalf("hermes backup wrote %v\n%s", zips, r)
		}
		defer os.Remove(zips[0])
		if fi, err := os.Stat(zips[0]); err == nil {
			t.Logf("hermes backup wrote %s, mode %v", filepath.Base(zips[0]), fi.Mode().Perm())
		}
		st := sealed.HK(t, "status", "--json")
		mustOK(t, "status --json", st)
		var rep struct {
			Homes []struct {
				Plaintext []struct {
					Path    string `json:"path"`
					Kind    string `json:"kind"`
					Key     string `json:"key"`
					Secrets int    `json:"secret_fields"`
				} `json:"plaintext"`
			} `json:"homes"`
		}
		if err := json.Unmarshal([]byte(st.out), &rep); err != nil {
			t.Fatalf("status --json: %v\n%s", err, st.out)
		}
		members := map[string]int{}
		for _, h := range rep.Homes {
			for _, p := range h.Plaintext {
				if p.Kind == "archive" && p.Path == zips[0] {
					members[p.Key] = p.Secrets
				}
			}
		}
		// A run of the root materialises the root's documents only.
		for _, m := range []string{"auth.json", ".env", "shared/nous_auth.json"} {
			if members[m] == 0 {
				t.Errorf("status does not list %s of the backup archive with its secrets: %v", m, members)
			}
		}
		for _, m := range []string{"profiles/work/auth.json", "profiles/work/.env"} {
			if _, ok := members[m]; ok {
				t.Errorf("the backup holds %s in plaintext, which a run of the root does not materialise: %v", m, members)
			}
		}
		doc := sealed.HK(t, "doctor")
		for _, r := range []result{st, doc, sealed.HK(t, "status")} {
			if strings.Contains(r.out+r.errOut, canary) {
				t.Errorf("a secret value in status or doctor output")
			}
		}
		if !strings.Contains(doc.out, "backup archive") {
			t.Errorf("doctor does not name the backup archive:\n%s", doc.out)
		}
	})

	t.Run("unmigrate", func(t *testing.T) {
		if last == nil {
			t.Skip("no view under run to compare with")
		}
		mustOK(t, "unmigrate", sealed.HK(t, "unmigrate", "--yes"))
		sealed.sealed = false
		got := views(t, sealed, lastHomes)
		sameViews(t, "plain Hermes after unmigrate vs under run before it", last, got, lastHomes)
	})
}
