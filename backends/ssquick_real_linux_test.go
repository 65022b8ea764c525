package backends_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// The pipelined Secret Service read (issue 12) against the real
// gnome-keyring: it returns what the general godbus path returns, for
// values of every shape and for a missing item.
func TestRealSecretServiceQuickReadMatchesGeneral(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
	b := open(t, "secret-service", backends.Config{Env: iox.SystemEnv(), Timeout: suiteTimeout})
	env := iox.SystemEnv()
	values := map[string]string{
		"short":   "x",
		"token":   strings.Repeat("tok3n-", 17),
		"lines":   "line one\nline two\r\n\ttab ünïcödé ✓",
		"big":     strings.Repeat("0123456789abcdef", 8<<10), // 128 KiB
		"jsonish": `{"access_token":"a\"b","n":1}`,
	}
	for name, want := range values {
		account := "vault:" + unique("quick-"+name)
		t.Cleanup(func() { _ = b.Delete(context.Background(), account) })
		if err := b.Set(t.Context(), account, want); err != nil {
			t.Fatal(err)
		}
		quick, err := backends.SecretServiceQuickGet(t.Context(), env, account)
		if err != nil || quick != want {
			t.Errorf("%s: quick read: %d bytes, %v; want %d bytes", name, len(quick), err, len(want))
		}
		general, err := backends.SecretServiceGeneralGet(t.Context(), env, account)
		if err != nil || general != want {
			t.Errorf("%s: general read: %d bytes, %v; want %d bytes", name, len(general), err, len(want))
		}
	}
	missing := "vault:" + unique("quick-missing")
	if _, err := backends.SecretServiceQuickGet(t.Context(), env, missing); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("quick read of a missing item: %v, want ErrNotFound", err)
	}
	if _, err := backends.SecretServiceGeneralGet(t.Context(), env, missing); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("general read of a missing item: %v, want ErrNotFound", err)
	}
}

// On a bus where no Secret Service runs, though one is activatable (the
// gnome-keyring package installs its service file), the quick read
// activates nothing: it leaves the decision to the general path.
// It needs no session of the suite's: it starts a bus of its own, so
// scripts/mutation-check can run it anywhere scripts/test runs.
func TestRealSecretServiceQuickReadActivatesNothing(t *testing.T) {
	_, err := exec.LookPath("dbus-daemon")
	if err == nil {
		_, err = os.Stat("/usr/share/dbus-1/services/org.freedesktop.secrets.service")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dbus-daemon and an activatable Secret Service (gnome-keyring) are needed: %v", err)
		}
		t.Skipf("SKIPPED: dbus-daemon and an activatable Secret Service (gnome-keyring) are needed: %v", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=unix:path="+sock, "--print-address")
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	env := iox.MapEnv(map[string]string{"DBUS_SESSION_BUS_ADDRESS": strings.TrimSpace(addr)})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := backends.SecretServiceQuickGet(ctx, env, "vault:nothing"); !errors.Is(err, backends.ErrSlowPath) {
		t.Fatalf("quick read with no Secret Service running: %v, want the general path", err)
	}
	owner := exec.Command("dbus-send", "--bus="+strings.TrimSpace(addr), "--print-reply=literal", "--dest=org.freedesktop.DBus",
		"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets")
	got, err := owner.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "false") {
		t.Fatalf("the quick read activated the Secret Service: NameHasOwner says %q", strings.TrimSpace(string(got)))
	}
}
