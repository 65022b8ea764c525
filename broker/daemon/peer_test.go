//go:build !windows

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// Environment variables that turn the test binary into a helper process.
const (
	envPeerClient = "HK_DAEMON_TEST_PEER_CLIENT" // socket path: send one ping, print the answer
	envActivated  = "HK_DAEMON_TEST_ACTIVATED"   // vault dir: serve on the inherited listener until stdin closes
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envPeerClient); sock != "" {
		os.Exit(peerClientMain(sock))
	}
	if dir := os.Getenv(envActivated); dir != "" {
		os.Exit(activatedMain(dir))
	}
	os.Exit(m.Run())
}

// peerClientMain runs as another uid: connect, send a ping, print the
// daemon's answer line (or the error) and our uid.
func peerClientMain(sock string) int {
	fmt.Printf("uid=%d\n", os.Getuid())
	c, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		fmt.Printf("dial: %v\n", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, `{"v":1,"id":1,"op":"get","ref":"openai-codex.tokens.access_token"}`+"\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	fmt.Printf("response=%s", line)
	if err != nil {
		fmt.Printf("\nread: %v\n", err)
	}
	return 0
}

// activatedMain is a daemon started the way systemd starts it.
func activatedMain(dir string) int {
	ln, err := ListenerFromEnv(iox.SystemEnv(), os.Getpid())
	if err != nil || ln == nil {
		fmt.Fprintf(os.Stderr, "no inherited listener: %v\n", err)
		return 1
	}
	srv, err := Listen(Options{Dir: dir, Listener: ln, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// requireRootOrSkip skips a test that needs root, loudly; under CI a skip
// is a failure.
func requireRootOrSkip(t *testing.T, why string) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test as root: %s", why)
	}
	t.Skipf("SKIPPED (not root): %s", why)
}

// TestPeerOfAnotherUIDRefused runs a client as uid 65534 against a socket
// it is allowed to connect to (dir 0711, socket 0666, for this test only),
// so that only the daemon's SO_PEERCRED check stands in its way.
func TestPeerOfAnotherUIDRefused(t *testing.T) {
	requireRootOrSkip(t, "running a client as another uid needs root and setpriv")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) is missing")
		}
		t.Skip("SKIPPED: setpriv (util-linux) is missing")
	}
	_, d, _ := unlockedDaemon(t, func(o *Options) {
		o.SocketPerm, o.DirPerm = 0o666, 0o711
	})
	// The socket's parent directories must be passable for uid 65534, and
	// the binary readable and executable.
	base := filepath.Dir(filepath.Dir(d.sock))
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "peer.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	cmd.Env = []string{envPeerClient + "=" + d.sock, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	t.Logf("client as uid 65534:\n%s", out)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if !strings.Contains(string(out), "uid=65534") {
		t.Fatal("the client did not run as uid 65534")
	}
	line, ok := strings.CutPrefix(string(out)[strings.Index(string(out), "response="):], "response=")
	if !ok {
		t.Fatal("no response: the kernel refused the connection, so the uid check was not exercised")
	}
	var resp Response
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &resp); err != nil {
		t.Fatalf("response %q: %v", line, err)
	}
	if resp.OK || resp.Code != CodeForbidden || resp.Value != nil {
		t.Fatalf("another uid was served: %+v", resp)
	}
	if strings.Contains(string(out), "CANARY") {
		t.Fatal("a secret reached the other uid")
	}
	log := d.log.String()
	if !strings.Contains(log, "refused a connection from uid 65534") || strings.Contains(log, "CANARY") {
		t.Fatalf("log:\n%s", log)
	}
	// The daemon goes on serving its own user.
	stillServes(t, d.sock)
}

// TestSocketActivation starts the daemon as systemd does: the listening
// socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the daemon's
// own pid (sh -c 'LISTEN_PID=$$ exec …' keeps the pid across exec).
func TestSocketActivation(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(shortTempDir(t), "act.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	lf, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"`, self)
	cmd.Env = append(os.Environ(), envActivated+"="+f.dir)
	cmd.ExtraFiles = []*os.File{lf}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	c := dial(t, sock)
	if err := c.UnlockPassphrase(context.Background(), []byte(testPass), 0); err != nil {
		t.Fatalf("unlock: %v\n%s", err, stderr.String())
	}
	val, _, err := c.Get(context.Background(), "env:OTHER", "")
	if err != nil || string(val) != `"CANARY-other"` {
		t.Fatalf("get over an inherited socket: %s %v\n%s", val, err, stderr.String())
	}
	st, err := c.Status(context.Background())
	if err != nil || st.PID != cmd.Process.Pid {
		t.Fatalf("status: %+v %v (child pid %d)", st, err, cmd.Process.Pid)
	}
	c.Close()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("activated daemon: %v\n%s", err, stderr.String())
	}
	// The socket belongs to systemd: the daemon leaves it in place.
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("activated daemon removed the inherited socket: %v", err)
	}
}

func TestListenerFromEnvIgnoresOthersVariables(t *testing.T) {
	ln, err := ListenerFromEnv(iox.MapEnv(map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "1"}), os.Getpid())
	if ln != nil || err != nil {
		t.Fatalf("LISTEN_PID of another process: %v %v", ln, err)
	}
	if ln, err := ListenerFromEnv(iox.MapEnv(nil), os.Getpid()); ln != nil || err != nil {
		t.Fatalf("no activation: %v %v", ln, err)
	}
	_, err = ListenerFromEnv(iox.MapEnv(map[string]string{"LISTEN_PID": fmt.Sprint(os.Getpid()), "LISTEN_FDS": "2"}), os.Getpid())
	if err == nil {
		t.Fatal("two sockets accepted")
	}
}
