package backends_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// TestAutoNoBusMessage: with no session bus, auto says exactly "no
// keychain: no D-Bus session bus", names --backend file in its hint, and
// stays testable with errors.Is.
func TestAutoNoBusMessage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: only Linux keychains use D-Bus")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		env    map[string]string
		detail string
	}{
		{"unset", map[string]string{"XDG_RUNTIME_DIR": dir}, "DBUS_SESSION_BUS_ADDRESS unset"},
		{"autolaunch only", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "autolaunch:", "XDG_RUNTIME_DIR": dir}, "DBUS_SESSION_BUS_ADDRESS unset"},
		{"dead socket", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + filepath.Join(dir, "dead.sock")}, "dead.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			b, err := backends.Auto(t.Context(), backends.Config{Env: iox.MapEnv(tc.env), Dir: dir, Timeout: 2 * time.Second})
			if err == nil {
				t.Fatalf("auto picked %s with no bus", b.Name)
			}
			if got := err.Error(); got != "no keychain: no D-Bus session bus" {
				t.Errorf("message: got %q, want exactly %q", got, "no keychain: no D-Bus session bus")
			}
			if err.Error() != backends.NoBusMessage {
				t.Errorf("NoBusMessage is %q", backends.NoBusMessage)
			}
			for _, s := range []error{backends.ErrNoKeychain, backends.ErrUnavailable} {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v) is false", s)
				}
			}
			if !backends.IsNoBus(err) {
				t.Error("IsNoBus is false")
			}
			hint := xerr.Hint(err)
			if !strings.Contains(hint, "--backend file") {
				t.Errorf("hint does not name --backend file: %q", hint)
			}
			if !strings.Contains(hint, tc.detail) {
				t.Errorf("hint lost the bus detail %q: %q", tc.detail, hint)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s: a missing bus must be answered in milliseconds", d)
			}
			if used, berr := backends.SessionBus(t.Context(), backends.Config{Env: iox.MapEnv(tc.env)}); !used || !backends.IsNoBus(berr) {
				t.Errorf("SessionBus: used %v, err %v", used, berr)
			}
		})
	}
}

// TestAutoOtherReasonsListed: when the reason is not the missing bus, auto
// lists each keychain with its reason rather than claiming there is no bus.
// The keychains of another OS are not compiled in, so each is unknown here.
func TestAutoOtherReasonsListed(t *testing.T) {
	goos, name := "darwin", "keychain"
	if runtime.GOOS != "linux" {
		goos, name = "linux", "secret-service"
	}
	_, err := backends.Auto(t.Context(), backends.Config{Env: iox.MapEnv(nil), GOOS: goos, Dir: t.TempDir()})
	if err == nil {
		t.Fatal("auto picked a keychain of another OS")
	}
	if err.Error() == backends.NoBusMessage || backends.IsNoBus(err) {
		t.Fatalf("claims no bus: %v", err)
	}
	if !errors.Is(err, backends.ErrNoKeychain) || !strings.HasPrefix(err.Error(), "no keychain: "+name+": ") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(xerr.Hint(err), "--backend file") {
		t.Fatalf("hint %q", xerr.Hint(err))
	}
}

// TestSessionBusBroken: something listens at the bus address but does not
// speak D-Bus: SessionBus reports it (never "fine"), within the deadline.
func TestSessionBusBroken(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: only Linux keychains use D-Bus")
	}
	dir, err := shortTempDir(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
	}{
		{"closes at once", func(c net.Conn) { c.Close() }},
		{"hangs", func(c net.Conn) { time.Sleep(3 * time.Second); c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "")+".sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go tc.serve(c)
				}
			}()
			start := time.Now()
			used, err := backends.SessionBus(t.Context(), backends.Config{Env: iox.MapEnv(map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + sock}), Timeout: 300 * time.Millisecond})
			if !used || err == nil {
				t.Fatalf("a bus that does not speak D-Bus passed: used %v err %v", used, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s with a 300ms deadline", d)
			}
		})
	}
}

func shortTempDir(t *testing.T) (string, error) {
	// A unix socket path must fit in 108 bytes; t.TempDir can be longer.
	d, err := os.MkdirTemp("", "hkbus")
	if err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
	}
	return d, err
}
