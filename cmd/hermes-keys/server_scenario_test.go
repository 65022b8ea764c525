//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/internal/hermestest"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// TestServerScenario is issue 6's server path, end to end, with the real
// binary: no D-Bus at all, a fresh non-root user made for the test with
// useradd (uid 65534 when that is impossible, said in the log), the
// passphrase as a systemd credential, the broker daemon, a Hermes-like
// gateway rotating tokens under `run`, a second uid at the socket, and a
// canary scan of everything left behind.
//
// It needs root (to make the user and drop to it with setpriv). Under
// CI=true it fails when it cannot run; otherwise it skips, loudly.
// scripts/test runs it in a step of its own, outside the private D-Bus
// session the keychain tests use. The daemon's refusals of an oversized
// request, a slow-loris client and malformed lines are covered in
// broker/daemon (TestOversizedLine, TestSlowLorisCut, TestMalformedLines,
// the fuzz target); here only the cross-uid refusal is shown end to end.
func TestServerScenario(t *testing.T) {
	s := newScenario(t)
	start := time.Now()
	step := func(name string, f func()) {
		t.Helper()
		t0 := time.Now()
		f()
		t.Logf("%-62s %6.2fs", name, time.Since(t0).Seconds())
		if t.Failed() {
			t.FailNow()
		}
	}
	step("0. no D-Bus for the user, fresh runtime dir", s.noBus)
	step("1. migrate with auto: no keychain, names --backend file", s.migrateAuto)
	step("2a. passphrase file readable by group or other: refused", s.insecureCredential)
	step("2b. migrate --backend file --env with a systemd credential", s.migrateFile)
	step("3. serve, unlock; get and env answered by the daemon", s.daemonServes)
	step("4a. run: Hermes-like rotation, sealed while it runs", s.runRotation)
	step("4b. run when only the daemon holds the key: it asks the daemon", s.runDaemonOnly)
	step("5. a second uid is refused by the socket", s.peerRefused)
	step("5b. another user's socket: the user's commands send it nothing", s.squatters)
	step("6. lock; daemon stopped; run on unlock's kernel keyring cache", s.kernelCache)
	step("7. canary scan: no secret in plaintext anywhere", s.canaryScan)
	t.Logf("server scenario passed in %.1fs (cleanup follows)", time.Since(start).Seconds())
}

// The passphrase and the canaries: every secret the scenario makes holds
// "CANARY" (fakehermes.py's tokens do too), and none is printed.
const (
	scnPassphrase = "scenario passphrase: anchovy quartz lantern"
	scnEnvKey     = "CANARY-scn-openrouter-5c1e"
	scnAuth       = `{
  "version": 1,
  "providers": {
    "openai-codex": {"tokens": {"access_token": "CANARY-codex-access-0000", "refresh_token": "CANARY-codex-refresh-0000"}, "auth_mode": "chatgpt"},
    "nous": {"access_token": "CANARY-nous-access-0000", "refresh_token": "CANARY-nous-refresh-0000", "client_id": "hermes-cli"}
  },
  "active_provider": "nous"
}
`
	// Hermes's shared copy of the Nous pair (written on every Nous refresh).
	scnShared = `{"access_token": "CANARY-nous-access-0000", "refresh_token": "CANARY-nous-refresh-0000"}
`
	scnDotenv = "OPENROUTER_API_KEY=" + scnEnvKey + "\nHERMES_LOG_LEVEL=info\n"
	// How long the gateway stand-in rotates, and how often.
	scnRotateSeconds = "6"
	scnRotateRate    = "20"
)

// scnGateway is the Hermes gateway stand-in that `run` starts: it checks
// the sealed .env key reached its environment (by hash: it prints no
// secret), rotates both pairs with fakehermes.py while loading the store in
// a loop (a missing token fails it) and calling `hermes-keys env` as
// Hermes's secrets.command would, then waits until the daemon serves the
// last pair it wrote: every rotation reaches the vault while run is live.
const scnGateway = `set -eu
printf 'env-key-sha256 %s\n' "$(sed -n 's/^OPENROUTER_API_KEY=//p' "$HERMES_HOME/.env" | head -n 1 | tr -d '\n' | sha256sum | cut -d' ' -f1)"
python3 "$FAKE" rotate --home "$HERMES_HOME" --log "$ROTLOG" --rate "$RATE" --seconds "$SECS" &
rot=$!
reads=0
while kill -0 "$rot" 2>/dev/null; do
  python3 "$FAKE" read --home "$HERMES_HOME" || { echo "gateway: a token was missing" >&2; exit 9; }
  env -u CREDENTIALS_DIRECTORY "$HK" env >/dev/null || { echo "gateway: hermes-keys env failed" >&2; exit 10; }
  reads=$((reads + 1))
done
wait "$rot"
echo "reads $reads"
for prov in openai-codex nous; do
  n=$(awk -v p="$prov" '$1 == p { n = $2 } END { print n }' "$ROTLOG")
  if [ "$prov" = nous ]; then ref=nous.refresh_token; want=$(printf 'CANARY-nous-refresh-%04d' "$n")
  else ref=openai-codex.tokens.refresh_token; want=$(printf 'CANARY-codex-refresh-%04d' "$n"); fi
  i=0
  until [ "$(env -u CREDENTIALS_DIRECTORY "$HK" get "$ref" 2>/dev/null)" = "$want" ]; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || { echo "gateway: the vault did not catch up with $prov $n" >&2; exit 11; }
    sleep 0.1
  done
  echo "sealed-live $prov $n polls $i"
done
`

// scnPeer connects to the socket, sends one request line and prints, as
// JSON, its uid and the answer (or the connect error).
const scnPeer = `import json, os, socket, sys
out = {"uid": os.getuid()}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    out["connect_errno"] = e.errno
    print(json.dumps(out))
    sys.exit(0)
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except OSError:
    pass  # a refused peer may be cut before its request is sent: read the answer
line = s.makefile("rb").readline()
if line:
    out["response"] = json.loads(line)
print(json.dumps(out))
`

type scenario struct {
	t *testing.T
	// top (root's, 0755) holds bin (root's: the binary and scripts), home
	// (the user's HOME, with .hermes), run (XDG_RUNTIME_DIR) and creds
	// (CREDENTIALS_DIRECTORY), all the user's and 0700.
	top, bin, home, root, runDir, creds string
	hkBin, fake, gateway, peer, rotLog  string
	user                                string // "" when running as 65534 without useradd
	uid, gid                            int
	otherUID                            int
	vaultID                             string
	daemon                              *exec.Cmd
	daemonLog                           *lockedBuilder
	daemonDone                          chan struct{}
	// printed is everything the commands printed that must hold no
	// secret (not the stdout of get and env, whose job it is).
	printed []string
}

// scenarioPrereqs fails under CI, and skips loudly elsewhere, when the
// scenario cannot run here.
func scenarioPrereqs(t *testing.T) {
	t.Helper()
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "it must run as root (to create a user and drop to it)")
	}
	for _, c := range []string{"setpriv", "useradd", "userdel", "keyctl", "sha256sum"} {
		if sbin(c) == "" {
			why = append(why, c+" is missing")
		}
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		why = append(why, "/usr/bin/python3 (for the Hermes stand-in, run as the test user) is missing")
	}
	if len(why) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run the server scenario: %s", strings.Join(why, "; "))
	}
	t.Skipf("SKIPPED the server scenario: %s", strings.Join(why, "; "))
}

// sbin finds a command on PATH, or in the sbin directories a root PATH
// may lack; "" if nowhere.
func sbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func newScenario(t *testing.T) *scenario {
	scenarioPrereqs(t)
	if testing.Short() {
		t.Skip("SKIPPED the server scenario in -short (about 20 s)")
	}
	hk := buildBinary(t)
	// Not t.TempDir: its parents are 0700, which the user cannot pass.
	top, err := os.MkdirTemp("", "hk-scn-")
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, top: top, daemonLog: &lockedBuilder{}}
	s.bin = filepath.Join(top, "bin")
	s.home = filepath.Join(top, "home")
	s.root = filepath.Join(s.home, ".hermes")
	s.runDir = filepath.Join(top, "run")
	s.creds = filepath.Join(top, "creds")
	s.rotLog = filepath.Join(s.home, "rotations.log")
	t.Cleanup(s.cleanup)
	must(t, os.Chmod(top, 0o755))
	must(t, os.Mkdir(s.bin, 0o755))
	s.hkBin = s.copyIn(hk, "hermes-keys")
	s.fake = s.copyIn(hermestest.Script(), "fakehermes.py")
	s.gateway = s.writeIn("gateway.sh", scnGateway)
	s.peer = s.writeIn("peer.py", scnPeer)

	s.makeUser()
	for _, d := range []string{s.home, s.root, filepath.Join(s.root, "shared"), s.runDir, s.creds} {
		must(t, os.Mkdir(d, 0o700))
	}
	must(t, os.WriteFile(filepath.Join(s.root, "auth.json"), []byte(scnAuth), 0o600))
	must(t, os.WriteFile(filepath.Join(s.root, "shared", "nous_auth.json"), []byte(scnShared), 0o600))
	must(t, os.WriteFile(filepath.Join(s.root, ".env"), []byte(scnDotenv), 0o600))
	must(t, os.WriteFile(filepath.Join(s.creds, backends.CredentialName), []byte(scnPassphrase+"\n"), 0o600))
	for _, d := range []string{s.home, s.runDir, s.creds} {
		s.chownTree(d)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *scenario) copyIn(src, name string) string {
	b, err := os.ReadFile(src)
	must(s.t, err)
	return s.writeIn(name, string(b))
}

func (s *scenario) writeIn(name, content string) string {
	p := filepath.Join(s.bin, name)
	must(s.t, os.WriteFile(p, []byte(content), 0o755))
	return p
}

// makeUser creates the test user; where useradd cannot (no /etc to write,
// say), the scenario runs as 65534 and says why.
func (s *scenario) makeUser() {
	t := s.t
	b := make([]byte, 3)
	rand.Read(b)
	name := "hkscn" + hex.EncodeToString(b)
	out, err := exec.Command(sbin("useradd"), "--system", "--no-create-home", "--home-dir", s.home,
		"--shell", "/usr/sbin/nologin", "--user-group", "--comment", "hermes-keys server scenario", name).CombinedOutput()
	if err != nil {
		t.Logf("WARNING: useradd %s failed (%v: %s); the scenario runs as uid 65534 (nobody) instead, and uid 65533 is the other user",
			name, err, bytes.TrimSpace(out))
		s.uid, s.gid, s.otherUID = 65534, 65534, 65533
		return
	}
	s.user = name
	u, err := user.Lookup(name)
	must(t, err)
	s.uid, _ = strconv.Atoi(u.Uid)
	s.gid, _ = strconv.Atoi(u.Gid)
	s.otherUID = 65534
	if s.uid == 0 || s.uid == s.otherUID {
		t.Fatalf("useradd gave uid %d", s.uid)
	}
	t.Logf("created user %s (uid %d, gid %d); the other uid is %d", name, s.uid, s.gid, s.otherUID)
}

func (s *scenario) chownTree(dir string) {
	must(s.t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	}))
}

// env is the user's environment: no DBUS_SESSION_BUS_ADDRESS, a private
// XDG_RUNTIME_DIR, and what the caller adds ("CREDENTIALS_DIRECTORY" for
// the systemd credential).
func (s *scenario) env(extra ...string) []string {
	e := []string{"PATH=/usr/bin:/bin", "HOME=" + s.home, "HERMES_HOME=" + s.root,
		"XDG_RUNTIME_DIR=" + s.runDir, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
	return append(e, extra...)
}

func (s *scenario) withCreds() []string {
	return s.env("CREDENTIALS_DIRECTORY=" + s.creds)
}

// asUser runs argv as uid, in a fresh session keyring of its own (as a
// login has; the kernel keyring cache must not touch root's), and returns
// the exit code, stdout and stderr.
func (s *scenario) asUser(uid, gid int, env []string, argv ...string) (int, string, string) {
	s.t.Helper()
	full := append([]string{fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups",
		"keyctl", "session", "-"}, argv...)
	cmd := exec.Command("setpriv", full...)
	cmd.Env = env
	cmd.Dir = "/"
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Exited() {
			s.t.Fatalf("%v: %v\n%s", argv, err, errOut.String())
		}
		code = ee.ExitCode()
	}
	stderr := joinedRE.ReplaceAllString(errOut.String(), "")
	return code, out.String(), stderr
}

var joinedRE = regexp.MustCompile(`(?m)^Joined session keyring: \d+\n`)

// hk runs hermes-keys as the test user; what it prints goes to the canary
// scan, except the stdout of get and env.
func (s *scenario) hk(env []string, args ...string) (int, string, string) {
	s.t.Helper()
	code, out, errOut := s.asUser(s.uid, s.gid, env, append([]string{s.hkBin}, args...)...)
	s.printed = append(s.printed, fmt.Sprintf("hermes-keys %s (stderr):\n%s", strings.Join(args, " "), errOut))
	if len(args) == 0 || (args[0] != "get" && args[0] != "env") {
		s.printed = append(s.printed, fmt.Sprintf("hermes-keys %s (stdout):\n%s", strings.Join(args, " "), out))
	}
	return code, out, errOut
}

func (s *scenario) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(s.root, rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.t.Fatal(err)
	}
	return string(b)
}

func (s *scenario) sock() string { return filepath.Join(s.runDir, "hermes-keys", daemon.SocketName) }

// 0. The user has no session bus, and the CI machine runs no bus at all.
func (s *scenario) noBus() {
	t := s.t
	for _, kv := range s.env() {
		if strings.HasPrefix(kv, "DBUS_") {
			t.Fatalf("the user's environment names a bus: %s", kv)
		}
	}
	for _, p := range []string{filepath.Join(s.runDir, "bus"), fmt.Sprintf("/run/user/%d/bus", s.uid)} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists: a bus the user could reach", p)
		}
	}
	if fi, err := os.Stat(s.runDir); err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != uint32(s.uid) {
		t.Fatalf("XDG_RUNTIME_DIR %s is not the user's own 0700 dir: %v", s.runDir, err)
	}
	buses := processesNamed("dbus-daemon", "dbus-launch", "dbus-broker")
	switch {
	case len(buses) == 0:
		t.Logf("no D-Bus daemon runs on this machine")
	case os.Getenv("CI") == "true":
		t.Fatalf("D-Bus daemons run on the CI machine (the scenario promises none): %v", buses)
	default:
		t.Logf("NOTE: D-Bus daemons run on this machine (%v); the test user has no address for any of them", buses)
	}
}

// processesNamed lists "pid:comm(uid)" of the processes with those names.
func processesNamed(names ...string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, n := range names {
			if c == n {
				out = append(out, fmt.Sprintf("%s:%s(uid %d)", e.Name(), c, procUID(e.Name())))
			}
		}
	}
	return out
}

// procUID is a process's real uid (from status: a daemon that made itself
// undumpable has its /proc files owned by root).
func procUID(pid string) int {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// processesOf lists the processes whose real or effective uid is uid.
func processesOf(uid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && f[0] == "Uid:" && (f[1] == strconv.Itoa(uid) || f[2] == strconv.Itoa(uid)) {
				comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
				out = append(out, e.Name()+":"+strings.TrimSpace(string(comm)))
			}
		}
	}
	return out
}

// storeUnchanged fails unless auth.json, .env and the shared Nous store
// are as the test wrote them and nothing else in the root holds a byte
// (lock files, empty, are what a refused migrate may leave).
func (s *scenario) storeUnchanged(what string) {
	t := s.t
	want := map[string]string{"auth.json": scnAuth, ".env": scnDotenv, "shared/nous_auth.json": scnShared}
	for rel, content := range want {
		if s.read(rel) != content {
			t.Errorf("%s: %s changed", what, rel)
		}
	}
	var empty []string
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		if _, ok := want[rel]; ok {
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.Size() != 0 {
			t.Errorf("%s: %s was written", what, rel)
		}
		empty = append(empty, rel)
		return nil
	})
	t.Logf("   %s: nothing written; empty lock files: %v", what, empty)
}

// 1. auto with no session bus: the exact message, --backend file named,
// exit 1 (failed: DESIGN §8 keeps 4 for a locked vault).
func (s *scenario) migrateAuto() {
	code, _, errOut := s.hk(s.withCreds(), "migrate", "--env", "--yes")
	if code != xerr.ExitFailed || !strings.Contains(errOut, "hermes-keys: no keychain: no D-Bus session bus\n") ||
		!strings.Contains(errOut, "--backend file") || !strings.Contains(errOut, "hint:") {
		s.t.Fatalf("migrate with auto and no bus: exit %d\n%s", code, errOut)
	}
	s.storeUnchanged("migrate with auto")
}

// 2a. A credential group or other may read is refused, and nothing is
// written.
func (s *scenario) insecureCredential() {
	cred := filepath.Join(s.creds, backends.CredentialName)
	defer os.Chmod(cred, 0o600)
	for _, mode := range []os.FileMode{0o640, 0o604} {
		must(s.t, os.Chmod(cred, mode))
		code, _, errOut := s.hk(s.withCreds(), "migrate", "--backend", "file", "--env", "--yes")
		if code == 0 || !strings.Contains(errOut, "readable by other users") ||
			!strings.Contains(errOut, fmt.Sprintf("has mode %04o", mode)) || !strings.Contains(errOut, "hint: chmod 600") {
			s.t.Fatalf("credential at %04o: exit %d\n%s", mode, code, errOut)
		}
		s.storeUnchanged(fmt.Sprintf("credential at %04o", mode))
	}
}

// 2b. migrate with the file backend and the credential; the store is its
// skeleton, the vault private to the user.
func (s *scenario) migrateFile() {
	t := s.t
	code, out, errOut := s.hk(s.withCreds(), "migrate", "--backend", "file", "--env", "--yes")
	if code != 0 {
		t.Fatalf("migrate --backend file: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"auth.json", ".env", "shared/nous_auth.json"} {
		if strings.Contains(s.read(f), "CANARY") {
			t.Errorf("%s still holds a secret after migrate", f)
		}
	}
	if !strings.Contains(s.read(".env"), "HERMES_LOG_LEVEL=info") {
		t.Errorf(".env lost its non-secret line")
	}
	dir := filepath.Join(s.root, broker.DirName)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want || fi.Sys().(*syscall.Stat_t).Uid != uint32(s.uid) {
			t.Errorf("%s: mode %04o uid %d, want %04o uid %d", p, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid, want, s.uid)
		}
		return nil
	})
	meta, err := broker.LoadMeta(dir)
	must(t, err)
	if meta.Backend != "file" {
		t.Fatalf("vault backend %q", meta.Backend)
	}
	s.vaultID = meta.ID
}

// peerCall sends one request line to the daemon as uid.
type peerResult struct {
	UID          int            `json:"uid"`
	ConnectErrno int            `json:"connect_errno"`
	Response     map[string]any `json:"response"`
}

func (s *scenario) peerCall(uid, gid int, line string) peerResult {
	s.t.Helper()
	code, out, errOut := s.asUser(uid, gid, s.env(), "python3", s.peer, s.sock(), line)
	s.printed = append(s.printed, "peer "+line+":\n"+out+errOut)
	var r peerResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		s.t.Fatalf("peer client as uid %d: exit %d\n%s%s", uid, code, out, errOut)
	}
	if r.UID != uid {
		s.t.Fatalf("peer client ran as uid %d, not %d", r.UID, uid)
	}
	return r
}

func (s *scenario) status() map[string]any {
	s.t.Helper()
	r := s.peerCall(s.uid, s.gid, `{"v":1,"id":1,"op":"status"}`)
	st, ok := r.Response["status"].(map[string]any)
	if r.Response["ok"] != true || !ok {
		s.t.Fatalf("status: %+v", r)
	}
	return st
}

func (s *scenario) startDaemon() {
	t := s.t
	// Not through keyctl session (it forks): the pid is the daemon's own.
	// No passphrase source and --no-auto-unlock: only unlock gives it the key.
	cmd := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", s.uid), fmt.Sprintf("--regid=%d", s.gid), "--clear-groups",
		s.hkBin, "serve", "--no-auto-unlock")
	cmd.Env, cmd.Dir = s.env(), "/"
	cmd.Stdout, cmd.Stderr = s.daemonLog, s.daemonLog
	must(t, cmd.Start())
	s.daemon, s.daemonDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.daemonDone) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Lstat(s.sock()); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			break
		}
		select {
		case <-s.daemonDone:
			t.Fatalf("serve exited: %v\n%s", cmd.ProcessState, s.daemonLog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket at %s; log:\n%s", s.sock(), s.daemonLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := s.peerCall(s.uid, s.gid, `{"v":1,"id":1,"op":"ping"}`); r.Response["ok"] != true {
		t.Fatalf("ping: %+v", r)
	}
}

func (s *scenario) stopDaemon() error {
	if s.daemon == nil {
		return nil
	}
	s.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.daemonDone:
	case <-time.After(30 * time.Second):
		s.daemon.Process.Kill()
		<-s.daemonDone
		s.daemon = nil
		return errors.New("serve did not stop on SIGTERM")
	}
	d := s.daemon
	s.daemon = nil
	if !d.ProcessState.Success() {
		return fmt.Errorf("serve exited with %v", d.ProcessState)
	}
	return nil
}

func (s *scenario) keyringHasKey() bool {
	code, _, _ := s.asUser(s.uid, s.gid, s.env(), "keyctl", "search", "@u", "user", daemon.KeyringDescription(s.vaultID))
	return code == 0
}

// 3. The daemon starts locked; unlock (passphrase from the credential)
// hands it the key; then get and env work with no passphrase source and
// no kernel keyring cache, so only the daemon can have answered.
func (s *scenario) daemonServes() {
	t := s.t
	s.startDaemon()
	if st := s.status(); st["locked"] != true || st["vault_id"] != s.vaultID || st["auto_unlock"] != false {
		t.Fatalf("a fresh --no-auto-unlock daemon: %v", st)
	}
	if code, _, errOut := s.hk(s.env(), "get", "nous.refresh_token"); code != xerr.ExitLocked {
		t.Fatalf("get with a locked daemon and no passphrase: exit %d\n%s", code, errOut)
	}
	code, _, errOut := s.hk(s.withCreds(), "unlock", "--ttl", "1h")
	if code != 0 || !strings.Contains(errOut, "the broker daemon holds the key of vault "+s.vaultID) {
		t.Fatalf("unlock: exit %d\n%s", code, errOut)
	}
	st := s.status()
	if exp, _ := st["expires_in_seconds"].(float64); st["locked"] != false || exp < 3000 || exp > 3600 {
		t.Fatalf("status after unlock --ttl 1h: %v", st)
	}
	if s.keyringHasKey() {
		t.Fatal("unlock with a daemon also cached the key in the kernel keyring")
	}
	code, out, errOut := s.hk(s.env(), "get", "nous.refresh_token")
	if code != 0 || out != "CANARY-nous-refresh-0000\n" {
		t.Fatalf("get through the daemon: exit %d %q\n%s", code, out, errOut)
	}
	code, out, errOut = s.hk(s.env(), "get", "openai-codex", "--json")
	if code != 0 || !strings.Contains(out, `"refresh_token": "CANARY-codex-refresh-0000"`) {
		t.Fatalf("get --json through the daemon: exit %d\n%s", code, errOut)
	}
	var took []time.Duration
	for range 5 {
		t0 := time.Now()
		code, out, errOut = s.hk(s.env(), "env")
		took = append(took, time.Since(t0))
		if code != 0 || out != "OPENROUTER_API_KEY="+scnEnvKey+"\n" {
			t.Fatalf("env through the daemon: exit %d\n%s", code, errOut)
		}
	}
	if code, _, _ := s.hk(s.env(), "get", "env:NOPE"); code != xerr.ExitNotFound {
		t.Fatalf("a missing ref through the daemon: exit %d", code)
	}
	t.Logf("   env through the daemon, incl. setpriv and keyctl: %v", took)
}

// 4a. run, with the credential as the gateway unit of docs/servers.md has
// it, while the daemon serves: the gateway stand-in always finds its
// tokens, every rotation reaches the vault while run is live, and the
// store is scrubbed at the end.
func (s *scenario) runRotation() {
	t := s.t
	env := append(s.withCreds(), "FAKE="+s.fake, "ROTLOG="+s.rotLog, "HK="+s.hkBin, "RATE="+scnRotateRate, "SECS="+scnRotateSeconds)
	code, out, errOut := s.hk(env, "run", "--", "/bin/sh", s.gateway)
	t.Logf("   gateway under run:\n%s", indent(out))
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s\ndaemon log:\n%s", code, out, errOut, s.daemonLog)
	}
	sum := sha256.Sum256([]byte(scnEnvKey))
	if !strings.Contains(out, "env-key-sha256 "+hex.EncodeToString(sum[:])+"\n") {
		t.Errorf("the sealed .env key was not materialised into the gateway's .env")
	}
	if m := regexp.MustCompile(`(?m)^reads (\d+)$`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("the gateway never loaded its store")
	}
	last := s.lastRotations()
	if last["openai-codex"] < 30 || last["nous"] < 30 {
		t.Fatalf("too few rotations to mean anything: %v", last)
	}
	for prov, n := range last {
		if !strings.Contains(out, fmt.Sprintf("sealed-live %s %d ", prov, n)) {
			t.Errorf("%s %d: not seen in the vault while run was live", prov, n)
		}
	}
	s.vaultHasLast(last, s.env())
	for _, f := range []string{"auth.json", ".env", "shared/nous_auth.json"} {
		if strings.Contains(s.read(f), "CANARY") {
			t.Errorf("%s still holds a secret after run", f)
		}
	}
}

// lastRotations reads fakehermes.py's log: the last sequence number
// written per provider; a REGRESSION line fails the test.
func (s *scenario) lastRotations() map[string]int {
	b, err := os.ReadFile(s.rotLog)
	must(s.t, err)
	last := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "REGRESSION") {
			s.t.Errorf("the gateway found an older pair after writing a newer one: %s", sc.Text())
			continue
		}
		prov, n, _ := strings.Cut(sc.Text(), " ")
		v, _ := strconv.Atoi(n)
		last[prov] = max(last[prov], v)
	}
	return last
}

// vaultHasLast: get, with env's key source, answers the last pair written.
func (s *scenario) vaultHasLast(last map[string]int, env []string) {
	for ref, want := range map[string]string{
		"openai-codex.tokens.refresh_token": fmt.Sprintf("CANARY-codex-refresh-%04d", last["openai-codex"]),
		"openai-codex.tokens.access_token":  fmt.Sprintf("CANARY-codex-access-%04d", last["openai-codex"]),
		"nous.refresh_token":                fmt.Sprintf("CANARY-nous-refresh-%04d", last["nous"]),
	} {
		code, out, errOut := s.hk(env, "get", ref)
		if code != 0 || out != want+"\n" {
			s.t.Errorf("get %s: exit %d, not the last pair written (%s)\n%s", ref, code, want[strings.LastIndexByte(want, '-')+1:], errOut)
		}
	}
}

// 4b. With only the daemon holding the key (no passphrase source, no
// kernel keyring cache), run works through the daemon's open and seal ops
// and never gets the key: the daemon logs each with run's pid. run is
// non-dumpable (its /proc entries belong to root), CMD keeps the core
// limit it was given, and HERMES_KEYS_PASSPHRASE does not reach CMD.
func (s *scenario) runDaemonOnly() {
	t := s.t
	const probe = `grep -c "nous-refresh-[0-9]" "$HERMES_HOME/auth.json"
echo "core $(ulimit -c)"
echo "run-status-owner $(stat -c %u /proc/$PPID/status)"
echo "passphrase-in-env $(env | grep -c '^HERMES_KEYS_PASSPHRASE=' || true)"
echo "passphrase-file-in-env $(env | grep -c '^HERMES_KEYS_PASSPHRASE_FILE=' || true)"`
	// HERMES_KEYS_PASSPHRASE is wrong here: were run to use it, it would fail.
	env := s.env("HK="+s.hkBin, "PROBE="+probe, "HERMES_KEYS_PASSPHRASE=CANARY-not-the-passphrase", "HERMES_KEYS_PASSPHRASE_FILE=/nonexistent")
	code, out, errOut := s.asUser(s.uid, s.gid, env, "/bin/sh", "-c", `ulimit -c 4096 && exec "$HK" run -- /bin/sh -c "$PROBE"`)
	s.printed = append(s.printed, "run (daemon only):\n"+out+errOut)
	t.Logf("   run through the daemon:\n%s", indent(out))
	if code != 0 || !strings.HasPrefix(out, "1\n") {
		t.Fatalf("run with only the daemon holding the key: exit %d, %q\n%s\ndaemon log:\n%s", code, out, errOut, s.daemonLog)
	}
	for _, want := range []string{"core 4096\n", "run-status-owner 0\n", "passphrase-in-env 0\n", "passphrase-file-in-env 1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run's child: want %q in\n%s", want, out)
		}
	}
	log := s.daemonLog.String()
	if !regexp.MustCompile(`handed every record \(\d+\) to pid \d+, `).MatchString(log) {
		t.Errorf("the daemon did not log the open with the peer's pid:\n%s", log)
	}
	if strings.Contains(log, "handed the vault key") {
		t.Errorf("the daemon handed out the key:\n%s", log)
	}
	if strings.Contains(s.read("auth.json"), "CANARY-") {
		t.Error("run left tokens in auth.json")
	}
	// No op gives the key: "identity" is an unknown op.
	r := s.peerCall(s.uid, s.gid, `{"v":1,"id":1,"op":"identity"}`)
	if r.Response["ok"] != false || r.Response["code"] != daemon.CodeBadRequest || r.Response["identity"] != nil {
		t.Fatalf("identity op: %+v", r)
	}
}

// 5. Another uid is refused: by the socket's directory as installed, and,
// with the path opened to it for this check only, by the daemon's
// SO_PEERCRED check. The daemon serves the user afterwards.
func (s *scenario) peerRefused() {
	t := s.t
	other := s.otherUID
	r := s.peerCall(other, other, `{"v":1,"id":1,"op":"get","ref":"nous.refresh_token"}`)
	if r.ConnectErrno != int(syscall.EACCES) || r.Response != nil {
		t.Fatalf("uid %d through the 0700 runtime dir: %+v", other, r)
	}
	sockDir := filepath.Dir(s.sock())
	must(t, os.Chmod(s.runDir, 0o711))
	must(t, os.Chmod(sockDir, 0o711))
	must(t, os.Chmod(s.sock(), 0o666))
	r = s.peerCall(other, other, `{"v":1,"id":1,"op":"get","ref":"nous.refresh_token"}`)
	must(t, os.Chmod(s.sock(), 0o600))
	must(t, os.Chmod(sockDir, 0o700))
	must(t, os.Chmod(s.runDir, 0o700))
	if r.Response == nil || r.Response["ok"] != false || r.Response["code"] != daemon.CodeForbidden || r.Response["value"] != nil {
		t.Fatalf("uid %d at an open socket: %+v", other, r)
	}
	if want := fmt.Sprintf("refused a connection from uid %d", other); !strings.Contains(s.daemonLog.String(), want) {
		t.Errorf("the daemon did not log %q:\n%s", want, s.daemonLog)
	}
	if code, out, _ := s.hk(s.env(), "get", "nous.access_token"); code != 0 || !strings.HasPrefix(out, "CANARY-nous-access-") {
		t.Fatalf("the daemon stopped serving its user after the refusal: exit %d", code)
	}
}

// squatListener listens at path as root and counts every byte sent to it.
func squatListener(t *testing.T, path string) (bytesIn func() int64) {
	ln, err := net.Listen("unix", path)
	must(t, err)
	must(t, os.Chmod(path, 0o666))
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				k, _ := io.Copy(io.Discard, c)
				n.Add(k)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return func() int64 { return n.Load() }
}

// 5b. Another user's socket where the user's commands look for the
// daemon: root listening in a directory of the user's (HERMES_KEYS_SOCKET;
// only SO_PEERCRED can tell), and a runtime directory left over from
// another user (XDG_RUNTIME_DIR after su). unlock with the passphrase
// source, get, env and run each warn and send nothing; serve refuses the
// path and names its owner.
func (s *scenario) squatters() {
	t := s.t
	dirA := filepath.Join(s.top, "sq")
	must(t, os.Mkdir(dirA, 0o700))
	must(t, os.Chown(dirA, s.uid, s.gid))
	sockA := filepath.Join(dirA, daemon.SocketName)
	inA := squatListener(t, sockA)
	rtB := filepath.Join(s.top, "rtb")
	must(t, os.MkdirAll(filepath.Join(rtB, "hermes-keys"), 0o755))
	sockB := filepath.Join(rtB, "hermes-keys", daemon.SocketName)
	inB := squatListener(t, sockB)
	for _, p := range []string{rtB, filepath.Dir(sockB), sockB} {
		must(t, os.Lchown(p, s.otherUID, s.otherUID))
	}
	for _, c := range []struct{ name, env, owner, why string }{
		{"root's listener, HERMES_KEYS_SOCKET", "HERMES_KEYS_SOCKET=" + sockA, "runs as uid 0 (root)", "the process listening on it"},
		{"another user's XDG_RUNTIME_DIR", "XDG_RUNTIME_DIR=" + rtB, fmt.Sprintf("belongs to uid %d", s.otherUID), "its directory"},
	} {
		for _, args := range [][]string{{"unlock", "--ttl", "1m"}, {"get", "nous.refresh_token"}, {"env"}, {"run", "--", "/bin/true"}} {
			env := append(s.withCreds(), c.env)
			_, _, errOut := s.hk(env, args...)
			if !strings.Contains(errOut, "warning: refusing the broker daemon socket") || !strings.Contains(errOut, c.owner) || !strings.Contains(errOut, c.why) {
				t.Errorf("%s: %s: no refusal naming %q:\n%s", c.name, args[0], c.owner, errOut)
			}
		}
	}
	if a, b := inA(), inB(); a != 0 || b != 0 {
		t.Fatalf("the squatters received %d and %d bytes", a, b)
	}
	code, _, errOut := s.hk(s.withCreds(), "serve", "--socket", sockA)
	if code == 0 || !strings.Contains(errOut, "is a socket of uid 0 (root)") {
		t.Fatalf("serve on root's socket: exit %d\n%s", code, errOut)
	}
	if _, err := os.Lstat(sockA); err != nil {
		t.Fatalf("serve removed another user's socket: %v", err)
	}
}

// 6. lock empties the daemon; SIGTERM stops it and removes its socket.
// Then unlock without a daemon caches the key in the kernel user keyring,
// and run and get work on it with no passphrase source; lock removes it.
func (s *scenario) kernelCache() {
	t := s.t
	code, _, errOut := s.hk(s.env(), "lock")
	if code != 0 || !strings.Contains(errOut, "broker daemon forgot") {
		t.Fatalf("lock: exit %d\n%s", code, errOut)
	}
	if st := s.status(); st["locked"] != true {
		t.Fatalf("status after lock: %v", st)
	}
	if err := s.stopDaemon(); err != nil {
		t.Fatalf("%v\n%s", err, s.daemonLog)
	}
	if _, err := os.Lstat(s.sock()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left after SIGTERM: %v", err)
	}
	code, _, errOut = s.hk(s.withCreds(), "unlock", "--ttl", "10m")
	if code != 0 || !strings.Contains(errOut, "cached the key of vault "+s.vaultID+" in the kernel user keyring") {
		t.Fatalf("unlock without a daemon: exit %d\n%s", code, errOut)
	}
	if !s.keyringHasKey() {
		t.Fatal("no key in the user's kernel keyring after unlock")
	}
	env := append(s.env(), "FAKE="+s.fake)
	code, out, errOut := s.hk(env, "run", "--", "/bin/sh", "-c",
		`python3 "$FAKE" read --home "$HERMES_HOME" && python3 "$FAKE" rotate-once --home "$HERMES_HOME" --log "$HOME/rotations.log"`)
	if code != 0 {
		t.Fatalf("run on the kernel keyring cache: exit %d\n%s%s", code, out, errOut)
	}
	s.vaultHasLast(s.lastRotations(), s.env())
	code, _, errOut = s.hk(s.env(), "lock")
	if code != 0 || !strings.Contains(errOut, "removed the key of vault") {
		t.Fatalf("lock: exit %d\n%s", code, errOut)
	}
	if s.keyringHasKey() {
		t.Fatal("lock left the key in the kernel keyring")
	}
	if code, _, _ := s.hk(s.env(), "get", "nous.refresh_token"); code != xerr.ExitLocked {
		t.Fatalf("get after lock, no daemon, no passphrase: exit %d", code)
	}
}

// 7. No secret in plaintext: not in any file under the scenario's
// directories (the Hermes root, HOME, the runtime dir; the credential
// itself excepted), not in any file of the user's elsewhere in the temp
// directories, not in anything a command printed, not in the daemon's log.
func (s *scenario) canaryScan() {
	t := s.t
	secrets := []string{"CANARY", scnPassphrase, "AGE-SECRET-KEY-1"}
	check := func(what string, b []byte) {
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				label := sec
				if sec == scnPassphrase {
					label = "the passphrase"
				}
				t.Errorf("%s holds %s", what, label)
			}
		}
	}
	files := 0
	filepath.WalkDir(s.top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("scan: %v", err)
			return nil
		}
		if p == s.bin {
			return fs.SkipDir // root's: the binary and the scripts (which name the canary prefix)
		}
		if !d.Type().IsRegular() || p == filepath.Join(s.creds, backends.CredentialName) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("scan: %v", err)
			return nil
		}
		files++
		check(p, b)
		return nil
	})
	// Elsewhere the user can only create files in the world-writable
	// directories themselves: look at what sits there.
	for _, dir := range []string{os.TempDir(), "/var/tmp", "/dev/shm"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Sys().(*syscall.Stat_t).Uid == uint32(s.uid) {
				t.Errorf("the user left %s outside the scenario's directories", filepath.Join(dir, e.Name()))
			}
		}
	}
	for _, p := range s.printed {
		check("output of "+strings.SplitN(p, "\n", 2)[0], []byte(p))
	}
	check("the daemon's log", []byte(s.daemonLog.String()))
	t.Logf("   scanned %d files, %d outputs and the daemon's log (%d bytes)", files, len(s.printed), len(s.daemonLog.String()))
	if testing.Verbose() {
		t.Logf("   daemon log:\n%s", indent(s.daemonLog.String()))
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "      " + strings.ReplaceAll(s, "\n", "\n      ")
}

// cleanup: the daemon stopped, no process of the user left, the key out of
// the user's kernel keyring, the user and the directories removed.
func (s *scenario) cleanup() {
	t := s.t
	if err := s.stopDaemon(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if s.uid != 0 {
		if s.vaultID != "" && s.keyringHasKey() {
			t.Errorf("cleanup: the vault key was still in the kernel keyring of uid %d", s.uid)
			s.asUser(s.uid, s.gid, s.env(), s.hkBin, "lock")
		}
		// Everything the user ran, the test started: end any left by pid.
		var left []string
		for range 50 {
			if left = processesOf(s.uid); len(left) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("cleanup: processes of uid %d left behind: %v", s.uid, left)
			for _, pc := range left {
				if pid, err := strconv.Atoi(strings.SplitN(pc, ":", 2)[0]); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	if s.user != "" {
		if out, err := exec.Command(sbin("userdel"), s.user).CombinedOutput(); err != nil {
			t.Errorf("cleanup: userdel %s: %v: %s", s.user, err, out)
		}
		if _, err := user.Lookup(s.user); err == nil {
			t.Errorf("cleanup: user %s still exists", s.user)
		}
		if _, err := user.LookupGroup(s.user); err == nil {
			t.Errorf("cleanup: group %s still exists", s.user)
		}
	}
	if err := os.RemoveAll(s.top); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
