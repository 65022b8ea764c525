//go:build !windows

package backends_test

// The pass backend against a stand-in `pass` script that keeps plaintext
// files and logs its argv and environment: it runs everywhere (no gpg), and
// it is how we see what the real pass is handed. The real pass runs in
// real_linux_test.go.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

const fakePass = `#!/bin/sh
log=$PASSWORD_STORE_DIR/../pass.log
printf 'argv: %s\n' "$*" >>"$log"
env | sed 's/^/env: /' >>"$log"
cmd=$1; shift
case $cmd in
insert)
	[ "$1" = -m ] && [ "$2" = -f ] || exit 2
	f=$PASSWORD_STORE_DIR/$3.gpg
	mkdir -p "$(dirname "$f")" && cat >"$f.$$" && mv "$f.$$" "$f" ;;
show)
	[ -f "$PASSWORD_STORE_DIR/$1.gpg" ] || { echo "Error: $1 is not in the password store." >&2; exit 1; }
	if [ -f "$PASSWORD_STORE_DIR/../hang" ]; then sleep 1000 & echo $! >"$PASSWORD_STORE_DIR/../hang.pid"; wait; fi
	if [ -f "$PASSWORD_STORE_DIR/../fail" ]; then cat "$PASSWORD_STORE_DIR/$1.gpg"; cat "$PASSWORD_STORE_DIR/$1.gpg" >&2; exit 2; fi
	cat "$PASSWORD_STORE_DIR/$1.gpg" ;;
rm)
	[ "$1" = -f ] || exit 2
	rm "$PASSWORD_STORE_DIR/$2.gpg" && rmdir "$(dirname "$PASSWORD_STORE_DIR/$2")" 2>/dev/null; exit 0 ;;
*) exit 2 ;;
esac
`

// fakePassEnv makes a store dir with the stand-in pass and gpg on PATH, and
// returns the injected environment and the directory holding pass.log.
func fakePassEnv(t *testing.T, initialised bool) (iox.Env, string) {
	t.Helper()
	dir := t.TempDir()
	bin, store := filepath.Join(dir, "bin"), filepath.Join(dir, "store")
	for _, d := range []string{bin, store} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"pass": fakePass, "gpg": "#!/bin/sh\nexit 0\n"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if initialised {
		if err := os.WriteFile(filepath.Join(store, ".gpg-id"), []byte("TESTKEY\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return iox.MapEnv(map[string]string{
		"PATH":               bin + ":/usr/bin:/bin",
		"PASSWORD_STORE_DIR": store,
		"HOME":               dir,
		"HK_NOT_FOR_PASS":    "injected-but-not-allowed",
	}), dir
}

func TestPassFake(t *testing.T) {
	t.Setenv("HK_PROCESS_ONLY", "process-environment")
	env, dir := fakePassEnv(t, true)
	b := open(t, "pass", backends.Config{Env: env, Namespace: "hk:ns", Timeout: suiteTimeout})
	backendtest.Run(t, b)

	log, err := os.ReadFile(filepath.Join(dir, "pass.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.HasPrefix(line, "argv: ") && strings.Contains(line, "CANARY") {
			t.Errorf("a secret reached pass's argv: %.40s...", line)
		}
	}
	for _, want := range []string{"argv: insert -m -f hk%3Ans/vault%3Abt-", "env: PASSWORD_STORE_DIR=" + env("PASSWORD_STORE_DIR")} {
		if !strings.Contains(string(log), want) {
			t.Errorf("pass.log lacks %q", want)
		}
	}
	for _, leak := range []string{"HK_PROCESS_ONLY", "HK_NOT_FOR_PASS"} {
		if strings.Contains(string(log), leak) {
			t.Errorf("%s reached pass: its environment must come from the allowlist of cfg.Env only", leak)
		}
	}
}

func TestPassEntryNames(t *testing.T) {
	env, _ := fakePassEnv(t, true)
	b := open(t, "pass", backends.Config{Env: env, Namespace: "ns"})
	store := env("PASSWORD_STORE_DIR")
	// Names that would leave the folder, or collide once ':' is replaced,
	// stay inside it and distinct.
	accounts := map[string]string{
		"vault:x": "ns/vault%3Ax.gpg",
		"vault_x": "ns/vault_x.gpg",
		"../up":   "ns/%2E.%2Fup.gpg",
		"a/b":     "ns/a%2Fb.gpg",
		".hidden": "ns/%2Ehidden.gpg",
	}
	for account, file := range accounts {
		if err := b.Set(t.Context(), account, "v-"+account); err != nil {
			t.Fatalf("set %q: %v", account, err)
		}
		if _, err := os.Stat(filepath.Join(store, file)); err != nil {
			t.Errorf("account %q: want the entry at %s: %v", account, file, err)
		}
	}
	for account := range accounts {
		if got, err := b.Get(t.Context(), account); err != nil || got != "v-"+account {
			t.Errorf("get %q: %q, %v", account, got, err)
		}
	}
}

func TestPassUnavailable(t *testing.T) {
	env, _ := fakePassEnv(t, false)
	b := open(t, "pass", backends.Config{Env: env})
	err := b.Probe(t.Context())
	if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "pass store not initialised (run: pass init GPG-ID)") {
		t.Errorf("probe of an uninitialised store: %v", err)
	}

	b = open(t, "pass", backends.Config{Env: iox.MapEnv(map[string]string{"PATH": t.TempDir(), "HOME": t.TempDir()})})
	err = b.Probe(t.Context())
	if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "pass not found on PATH") {
		t.Errorf("probe without pass on PATH: %v", err)
	}
}

// A failing `pass show` prints the secret (the stand-in does, on both
// streams); the error must not carry it.
func TestPassShowFailureHidesOutput(t *testing.T) {
	env, dir := fakePassEnv(t, true)
	b := open(t, "pass", backends.Config{Env: env})
	const secret = "CANARY-show-failure"
	if err := b.Set(t.Context(), "vault:x", secret); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(t.Context(), "vault:x")
	if err == nil || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("get with pass failing: want an error other than not-found, got %v", err)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatal("the error of a failed pass show contains the secret")
	}
}

// On the deadline, pass and what it started (gpg, here a sleep) are killed,
// not left running.
func TestPassDeadlineKillsChildren(t *testing.T) {
	env, dir := fakePassEnv(t, true)
	if err := open(t, "pass", backends.Config{Env: env, Timeout: suiteTimeout}).Set(t.Context(), "vault:x", "v"); err != nil {
		t.Fatal(err)
	}
	b := open(t, "pass", backends.Config{Env: env, Timeout: 300 * time.Millisecond})
	if err := os.WriteFile(filepath.Join(dir, "hang"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "vault:x"); !errors.Is(err, backends.ErrTimeout) {
		t.Fatalf("get from a hung pass: want ErrTimeout, got %v", err)
	}
	pid, err := os.ReadFile(filepath.Join(dir, "hang.pid"))
	if err != nil {
		t.Fatal(err)
	}
	proc := "/proc/" + strings.TrimSpace(string(pid))
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("no /proc to look for the child in")
	}
	for range 200 { // the kill is asynchronous to Guard's return
		if !alive(proc) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("pass's child still runs after the deadline")
}

func alive(proc string) bool {
	stat, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") // a zombie has exited
}
