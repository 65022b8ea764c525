package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// envServeAsUser turns the test binary into a daemon run by a created
// user: it makes a vault in the given directory, serves it unlocked on
// <dir>/hermes-keys/broker.sock (opened to other uids for this test only),
// prints "ready", and stops when stdin closes.
const envServeAsUser = "HK_DAEMON_TEST_SERVE_AS_USER"

func init() {
	// Registered here, as TestMain (peer_test.go) cannot know this file's
	// helper: run before any test when the variable is set.
	if dir := os.Getenv(envServeAsUser); dir != "" {
		os.Exit(serveAsUserMain(dir))
	}
}

func serveAsUserMain(dir string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 1 }
	vdir := filepath.Join(dir, ".hermes", broker.DirName)
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE": testPass})
	b, err := backends.Open("file", backends.Config{Env: env, Dir: vdir, ScryptWorkFactor: 10})
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	v, _, err := broker.Create(ctx, vdir, b, broker.CreateOptions{})
	if err != nil {
		return fail(err)
	}
	if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
		return c.Put("providers/openai-codex", broker.KindProvider, []byte(`{"tokens":{"access_token":"CANARY-user-at"}}`), v.Now()), nil
	}); err != nil {
		return fail(err)
	}
	sock := filepath.Join(dir, broker.DirName, SocketName)
	srv, err := Listen(Options{Dir: vdir, Socket: sock, Log: os.Stderr, SocketPerm: 0o666, DirPerm: 0o711})
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx) }()
	c, err := Dial(sock)
	if err == nil {
		err = c.UnlockPassphrase(ctx, []byte(testPass), 0)
		c.Close()
	}
	if err != nil {
		cancel()
		return fail(err)
	}
	fmt.Printf("ready uid=%d\n", os.Getuid())
	io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		return fail(err)
	}
	return 0
}

// TestPeerRefusedDaemonAsCreatedUser is TestPeerOfAnotherUIDRefused with
// the daemon run by a user created for the test (useradd, setpriv), not
// root: uid 65534 at its socket is refused, the user itself is served.
func TestPeerRefusedDaemonAsCreatedUser(t *testing.T) {
	requireRootOrSkip(t, "creating a user and dropping to it needs root")
	for _, c := range []string{"setpriv", "useradd", "userdel"} {
		if _, err := exec.LookPath(c); err != nil {
			if _, err := os.Stat("/usr/sbin/" + c); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is missing", c)
				}
				t.Skipf("SKIPPED: %s is missing", c)
			}
		}
	}
	rb := make([]byte, 3)
	rand.Read(rb)
	name := "hkdmn" + hex.EncodeToString(rb)
	if out, err := exec.Command("/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
		"--user-group", "--comment", "hermes-keys daemon test", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("useradd: %v: %s", err, out)
		}
		t.Skipf("SKIPPED: useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("/usr/sbin/userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	base := shortTempDir(t)
	os.Chmod(base, 0o711)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "peer.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "u")
	if err := os.Mkdir(home, 0o711); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, uid, gid)

	d := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups", bin)
	d.Env, d.Dir = []string{envServeAsUser + "=" + home, "PATH=/usr/bin:/bin"}, "/"
	var log syncBuffer
	d.Stderr = &log
	stdin, _ := d.StdinPipe()
	stdout, _ := d.StdoutPipe()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := d.Wait(); err != nil {
			t.Errorf("daemon as %s: %v\n%s", name, err, log.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != fmt.Sprintf("ready uid=%d\n", uid) {
		t.Fatalf("daemon as %s: %q %v\n%s", name, line, err, log.String())
	}
	sock := filepath.Join(home, broker.DirName, SocketName)

	peer := func(asUID, asGID int) (Response, string) {
		t.Helper()
		cmd := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", asUID), fmt.Sprintf("--regid=%d", asGID), "--clear-groups", bin)
		cmd.Env, cmd.Dir = []string{envPeerClient + "=" + sock, "PATH=/usr/bin:/bin"}, "/"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", asUID, err, out)
		}
		if !strings.Contains(string(out), fmt.Sprintf("uid=%d\n", asUID)) {
			t.Fatalf("the client did not run as uid %d:\n%s", asUID, out)
		}
		i := strings.Index(string(out), "response=")
		if i < 0 {
			t.Fatalf("no response: the kernel refused the connection, so the uid check was not exercised:\n%s", out)
		}
		var resp Response
		if err := json.Unmarshal([]byte(strings.TrimSpace(string(out)[i+len("response="):])), &resp); err != nil {
			t.Fatalf("client as uid %d: %v\n%s", asUID, err, out)
		}
		return resp, string(out)
	}
	resp, out := peer(65534, 65534)
	if resp.OK || resp.Code != CodeForbidden || resp.Value != nil || strings.Contains(out, "CANARY") {
		t.Fatalf("uid 65534 was served by %s's daemon: %+v", name, resp)
	}
	// The same request from the user itself is served: the refusal above
	// is the uid check, not the path.
	resp, _ = peer(uid, gid)
	if !resp.OK || string(resp.Value) != `"CANARY-user-at"` {
		t.Fatalf("the daemon's own user was not served: %+v", resp)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "refused a connection from uid 65534") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := log.String(); !strings.Contains(l, "refused a connection from uid 65534") || strings.Contains(l, "CANARY") {
		t.Fatalf("daemon log:\n%s", l)
	}
}
