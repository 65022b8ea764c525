package backends_test

// KWallet cannot run headless (a wallet is created through a KDE dialog), so
// these tests run the kwallet backend against a fake kwalletd on a private
// dbus-daemon: the method names and D-Bus signatures are kwalletd's own
// (org.kde.KWallet.xml), so a wrong type or a missing folder shows up here.
// What they cannot show is how a real kwalletd answers a locked or refused
// wallet beyond open() returning -1. TestRealKWallet covers a real one.

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// privateDBus starts a dbus-daemon that only this test uses (nothing
// activatable, so only what the test registers exists) and returns its
// address.
func privateDBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dbus-daemon not found: the kwallet tests cannot run in CI without it")
		}
		t.Skip("KWALLET TESTS SKIPPED: no dbus-daemon to run a fake kwalletd on")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon gave no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// fakeKWallet is kwalletd's org.kde.KWallet interface, the methods we use,
// strict where kwalletd is: handles must come from open by the same app,
// and writes need the folder to exist.
type fakeKWallet struct {
	mu      sync.Mutex
	refuse  bool // open returns -1, as when the user cancels the unlock prompt
	next    int32
	handles map[int32]bool
	folders map[string]map[string]string
	calls   []string
}

func (f *fakeKWallet) ok(h int32, appid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handles[h] && appid == backends.Service
}

func (f *fakeKWallet) log(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeKWallet) IsEnabled() (bool, *dbus.Error)       { return true, nil }
func (f *fakeKWallet) NetworkWallet() (string, *dbus.Error) { return "kdewallet", nil }

func (f *fakeKWallet) Open(wallet string, wid int64, appid string) (int32, *dbus.Error) {
	f.log("open " + wallet)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse || wallet != "kdewallet" {
		return -1, nil
	}
	f.next++
	f.handles[f.next] = true
	return f.next, nil
}

func (f *fakeKWallet) Close(h int32, force bool, appid string) (int32, *dbus.Error) {
	f.log("close")
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.handles, h)
	return 0, nil
}

func (f *fakeKWallet) HasFolder(h int32, folder, appid string) (bool, *dbus.Error) {
	if !f.ok(h, appid) {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.folders[folder] != nil, nil
}

func (f *fakeKWallet) CreateFolder(h int32, folder, appid string) (bool, *dbus.Error) {
	if !f.ok(h, appid) {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.folders[folder] == nil {
		f.folders[folder] = map[string]string{}
	}
	return true, nil
}

func (f *fakeKWallet) HasEntry(h int32, folder, key, appid string) (bool, *dbus.Error) {
	if !f.ok(h, appid) {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.folders[folder][key]
	return ok, nil
}

func (f *fakeKWallet) ReadPassword(h int32, folder, key, appid string) (string, *dbus.Error) {
	if !f.ok(h, appid) {
		return "", nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.folders[folder][key], nil
}

func (f *fakeKWallet) WritePassword(h int32, folder, key, value, appid string) (int32, *dbus.Error) {
	if !f.ok(h, appid) {
		return -1, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.folders[folder] == nil {
		return -1, nil
	}
	f.folders[folder][key] = value
	return 0, nil
}

func (f *fakeKWallet) RemoveEntry(h int32, folder, key, appid string) (int32, *dbus.Error) {
	if !f.ok(h, appid) {
		return -1, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.folders[folder], key)
	return 0, nil
}

// serveKWallet puts a fake kwalletd on the bus at addr under name
// (org.kde.kwalletd6 or 5).
func serveKWallet(t *testing.T, addr, name string) *fakeKWallet {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeKWallet{handles: map[int32]bool{}, folders: map[string]map[string]string{}}
	methods := map[string]string{}
	for _, m := range []string{"IsEnabled", "NetworkWallet", "Open", "Close", "HasFolder", "CreateFolder", "HasEntry", "ReadPassword", "WritePassword", "RemoveEntry"} {
		methods[m] = strings.ToLower(m[:1]) + m[1:]
	}
	path := dbus.ObjectPath("/modules/" + strings.TrimPrefix(name, "org.kde."))
	if err := conn.ExportWithMap(f, methods, path, "org.kde.KWallet"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request %s: %v %v", name, reply, err)
	}
	return f
}

func kwalletConfig(addr string) backends.Config {
	return backends.Config{
		Env:       iox.MapEnv(map[string]string{"DBUS_SESSION_BUS_ADDRESS": addr}),
		Namespace: "hk-test",
		Timeout:   suiteTimeout,
	}
}

func TestKWalletFake(t *testing.T) {
	for _, name := range []string{"org.kde.kwalletd6", "org.kde.kwalletd5"} {
		t.Run(name, func(t *testing.T) {
			addr := privateDBus(t)
			f := serveKWallet(t, addr, name)
			backendtest.Run(t, open(t, "kwallet", kwalletConfig(addr)))
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.handles) != 0 {
				t.Errorf("%d wallet handles left open", len(f.handles))
			}
		})
	}
}

func TestKWalletAbsent(t *testing.T) {
	addr := privateDBus(t)
	b := open(t, "kwallet", kwalletConfig(addr))
	err := b.Probe(t.Context())
	if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "no KWallet on the session bus") {
		t.Errorf("probe with no kwalletd: %v", err)
	}
	if _, err := b.Get(t.Context(), "vault:x"); !errors.Is(err, backends.ErrUnavailable) {
		t.Errorf("get with no kwalletd: %v", err)
	}
}

// Without a session bus nothing is dialled: the answer comes from the
// address check.
func TestKWalletNoBus(t *testing.T) {
	b := open(t, "kwallet", backends.Config{Env: iox.MapEnv(map[string]string{"XDG_RUNTIME_DIR": t.TempDir()})})
	if err := b.Probe(t.Context()); !errors.Is(err, backends.ErrNoBus) {
		t.Errorf("probe without a bus: %v", err)
	}
	if err := b.Set(t.Context(), "vault:x", "v"); !errors.Is(err, backends.ErrNoBus) {
		t.Errorf("set without a bus: %v", err)
	}
}

func TestKWalletRefused(t *testing.T) {
	addr := privateDBus(t)
	f := serveKWallet(t, addr, "org.kde.kwalletd6")
	f.mu.Lock()
	f.refuse = true
	f.mu.Unlock()
	b := open(t, "kwallet", kwalletConfig(addr))
	if err := b.Probe(t.Context()); err != nil {
		t.Fatalf("probe does not open the wallet, so it passes: %v", err)
	}
	if _, err := b.Get(t.Context(), "vault:x"); !errors.Is(err, backends.ErrLocked) {
		t.Errorf("get from a wallet that did not open: %v", err)
	}
}

func TestKWalletRefusesBinary(t *testing.T) {
	addr := privateDBus(t)
	f := serveKWallet(t, addr, "org.kde.kwalletd6")
	b := open(t, "kwallet", kwalletConfig(addr))
	for _, v := range []string{"nul\x00inside", "bad\xffutf8"} {
		err := b.Set(t.Context(), "vault:x", v)
		if err == nil || strings.Contains(err.Error(), v) {
			t.Errorf("set of a non-text value: %v", err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 0 {
		t.Errorf("a refused value still reached kwalletd: %v", f.calls)
	}
}
