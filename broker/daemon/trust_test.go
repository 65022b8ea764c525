//go:build !windows

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker"
)

// listenCounting listens at path and counts the bytes every client sends.
func listenCounting(t *testing.T, path string) (received func() int) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n := 0
				for {
					k, err := c.Read(buf)
					n += k
					if err != nil {
						got <- n
						return
					}
				}
			}()
		}
	}()
	return func() int {
		ln.Close()
		total := 0
		for {
			select {
			case n := <-got:
				total += n
			default:
				return total
			}
		}
	}
}

// TestClientRefusesDirWritableByOthers: a socket in a directory others
// may write to (a shared /tmp-like one) is refused before connecting.
func TestClientRefusesDirWritableByOthers(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o1777, 0o720, 0o702} {
		dir := shortTempDir(t)
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, "s.sock")
		received := listenCounting(t, sock)
		c, err := Dial(sock)
		if err == nil {
			c.Close()
			t.Fatalf("mode %o: a socket in a directory others can write was trusted", mode)
		}
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "writable by others") {
			t.Fatalf("mode %o: %v", mode, err)
		}
		os.Chmod(dir, 0o700)
		if n := received(); n != 0 {
			t.Fatalf("mode %o: the listener received %d bytes", mode, n)
		}
	}
	// The same socket in a 0700 directory is fine (the test's own listener
	// runs as this user).
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "s.sock")
	listenCounting(t, sock)
	c, err := Dial(sock)
	if err != nil {
		t.Fatalf("own 0700 directory: %v", err)
	}
	c.Close()
}

// TestCheckPeerRefusesAnotherUID: the listener's uid, read from the
// connected socket, must be the client's. (The end-to-end case, another
// user's process listening, is in cmd/hermes-keys TestServerScenario.)
func TestCheckPeerRefusesAnotherUID(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "s.sock")
	listenCounting(t, sock)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := checkPeer(conn, sock, os.Getuid()); err != nil {
		t.Fatalf("own listener: %v", err)
	}
	err = checkPeer(conn, sock, os.Getuid()+1)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "runs as uid") {
		t.Fatalf("listener of another uid: %v", err)
	}
}

// TestClientRefusesDirOfAnotherUser: a directory that belongs to another
// user (an XDG_RUNTIME_DIR left over from su) is refused, naming the owner.
func TestClientRefusesDirOfAnotherUser(t *testing.T) {
	requireRootOrSkip(t, "making a directory of another uid needs root")
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "s.sock")
	received := listenCounting(t, sock)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(sock)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("directory of uid 65534: %v", err)
	}
	if n := received(); n != 0 {
		t.Fatalf("the listener received %d bytes", n)
	}
}

// TestServeRefusesAnotherUsersPath: serve leaves alone, and names the
// owner of, a file or a socket of another user at its path.
func TestServeRefusesAnotherUsersPath(t *testing.T) {
	requireRootOrSkip(t, "making files of another uid needs root")
	f := newFixture(t)
	dir := shortTempDir(t)
	// A plain file of another user.
	path := filepath.Join(dir, "f.sock")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, 65534, 65534)
	_, err := Listen(Options{Dir: f.dir, Socket: path})
	if err == nil || !strings.Contains(err.Error(), "is not a socket, and belongs to uid 65534") {
		t.Fatalf("file of uid 65534: %v", err)
	}
	// A socket of another user, nobody listening: not removed as stale.
	path = filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	os.Chown(path, 65534, 65534)
	_, err = Listen(Options{Dir: f.dir, Socket: path})
	if err == nil || !strings.Contains(err.Error(), "is a socket of uid 65534") {
		t.Fatalf("socket of uid 65534: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("another user's socket was removed: %v", err)
	}
	// A directory others may write: refused, clients would refuse it.
	open := shortTempDir(t)
	os.Chmod(open, 0o1777)
	if _, err := Listen(Options{Dir: f.dir, Socket: filepath.Join(open, "b.sock")}); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("socket directory 1777: %v", err)
	}
	os.Chmod(open, 0o700)
}

// TestOpenSealThroughTheDaemon: a Store reads every record and seals
// changes without the key; a seal of a record someone else changed fails
// with nothing written, and Store.Update then re-reads and re-applies.
func TestOpenSealThroughTheDaemon(t *testing.T) {
	ctx := context.Background()
	f, d, _ := unlockedDaemon(t, nil)
	st, c, err := OpenStore(ctx, d.sock, d.srv.VaultID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if len(c.Records) != 4 || c.Records["env/OTHER"] == nil || c.VaultID != d.srv.VaultID() {
		t.Fatalf("open: %d records, %+v", len(c.Records), c.Records["env/OTHER"])
	}
	direct := f.directVault(t)
	calls := 0
	after, err := st.Update(ctx, func(c *broker.Contents) (bool, error) {
		calls++
		if calls == 1 {
			// Another writer changes env/OTHER between our read and seal.
			if _, err := direct.Update(ctx, func(c *broker.Contents) (bool, error) {
				return c.Put("env/OTHER", broker.KindEnv, json.RawMessage(`"CANARY-other-2"`), direct.Now()), nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		c.Put("env/OTHER", broker.KindEnv, json.RawMessage(`"CANARY-mine-`+string(rune('0'+calls))+`"`), direct.Now())
		delete(c.Records, "profiles/work/env/OPENROUTER_API_KEY")
		c.Put("env/NEW", broker.KindEnv, json.RawMessage(`"CANARY-new"`), direct.Now())
		return true, nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("update: %v after %d calls", err, calls)
	}
	got, err := direct.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Records["env/OTHER"].Value) != `"CANARY-mine-2"` || got.Records["env/OTHER"].Generation != 3 ||
		got.Records["profiles/work/env/OPENROUTER_API_KEY"] != nil || got.Records["env/NEW"] == nil || got.Generation != after.Generation {
		t.Fatalf("after the seal: %+v (generation %d vs %d)", got.Records, got.Generation, after.Generation)
	}
	// A stale seal sent by hand is refused whole.
	_, err = st.c.Seal(ctx, []Change{
		{Key: "env/NEW", Expect: 1, Record: &broker.Record{Kind: broker.KindEnv, Generation: 2, Value: json.RawMessage(`"CANARY-x"`)}},
		{Key: "env/OTHER", Expect: 1},
	})
	if code(err) != CodeGeneration {
		t.Fatalf("stale seal: %v", err)
	}
	if again, _ := direct.Read(ctx); again.Generation != got.Generation || again.Records["env/OTHER"] == nil {
		t.Fatal("a refused seal wrote")
	}
	for _, rec := range []*broker.Record{{Kind: broker.KindEnv, Value: json.RawMessage(`null`)}, {Value: json.RawMessage(`"x"`)}} {
		if _, err := st.c.Seal(ctx, []Change{{Key: "env/NEW", Expect: got.Records["env/NEW"].Generation, Record: rec}}); code(err) != CodeBadRequest {
			t.Fatalf("seal of %+v: %v", rec, err)
		}
	}
	log := d.log.String()
	if !strings.Contains(log, "handed every record (4) to pid ") || !strings.Contains(log, "sealed 3 record change(s) from pid ") {
		t.Fatalf("log:\n%s", log)
	}
	if exe, _ := os.Executable(); !strings.Contains(log, exe) {
		t.Errorf("the log does not name the peer's executable %s:\n%s", exe, log)
	}
	if strings.Contains(log, "CANARY") {
		t.Fatalf("log holds a secret:\n%s", log)
	}
}

// TestSealOverOneMiB: a seal may carry a line over MaxLine (a whole store
// sealed at once); any other op over MaxLine is still too_large.
func TestSealOverOneMiB(t *testing.T) {
	ctx := context.Background()
	f, d, c := unlockedDaemon(t, nil)
	st, _, err := OpenStore(ctx, d.sock, d.srv.VaultID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	big, _ := json.Marshal(map[string]string{"blob": "CANARY-" + strings.Repeat("z", 2*MaxLine)})
	if _, err := st.Update(ctx, func(c *broker.Contents) (bool, error) {
		return c.Put("file/big.json", broker.KindDocument, big, f.directVault(t).Now()), nil
	}); err != nil {
		t.Fatalf("seal of %d bytes: %v", len(big), err)
	}
	if got, err := f.directVault(t).Read(ctx); err != nil || len(got.Records["file/big.json"].Value) != len(big) {
		t.Fatalf("after the big seal: %v", err)
	}
	if _, err := c.Put(ctx, "doc:big2.json", "", big, -1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over 1 MiB: %v", err)
	}
}
