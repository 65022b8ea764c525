package backends_test

// The real stores, on a machine provisioned by scripts/test: gnome-keyring in
// a private D-Bus session, a fresh session keyring (keyctl session -), and a
// pass store with a throwaway GPG key. Each suite runs only when its
// HERMES_KEYS_REAL_* variable is 1 and then must pass; see backendtest.Require.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"golang.org/x/sys/unix"
)

// run runs an external command with the secret, if any, on stdin.
func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestRealSecretService(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
	backendtest.Run(t, open(t, "secret-service", backends.Config{Env: iox.SystemEnv(), Timeout: suiteTimeout}))
}

// Items are plain Secret Service items (service, username attributes), so
// libsecret tools and other programs see the same thing we do, both ways.
func TestRealSecretServiceInterop(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
	b := open(t, "secret-service", backends.Config{Env: iox.SystemEnv(), Timeout: suiteTimeout})
	account := "vault:" + unique("interop")
	t.Cleanup(func() { _ = b.Delete(context.Background(), account) })

	const fromTool = "written-by-secret-tool"
	run(t, fromTool, "secret-tool", "store", "--label=hermes-keys interop test", "service", backends.Service, "username", account)
	got, err := b.Get(t.Context(), account)
	if err != nil || got != fromTool {
		t.Fatalf("get of a secret-tool item: got %q, %v; want %q", got, err, fromTool)
	}

	const fromUs = "written-by-hermes-keys"
	if err := b.Set(t.Context(), account, fromUs); err != nil {
		t.Fatal(err)
	}
	if got := run(t, "", "secret-tool", "lookup", "service", backends.Service, "username", account); got != fromUs {
		t.Fatalf("secret-tool lookup: got %q, want %q", got, fromUs)
	}
}

func TestRealKeyctl(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_KEYCTL", "keyctl")
	ns := unique("hk-test")
	t.Cleanup(func() {
		if id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "keyring", ns, 0); err == nil {
			unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_SESSION_KEYRING, 0, 0)
		}
	})
	b := open(t, "keyctl", backends.Config{Namespace: ns})
	if b.Persistent {
		t.Error("keyctl claims to survive a reboot")
	}
	backendtest.Run(t, b)

	// The key is where the docs say: a user key in keyring <ns> under the
	// session keyring, readable with keyutils.
	account := "vault:" + unique("cli")
	if err := b.Set(t.Context(), account, "seen-by-keyctl"); err != nil {
		t.Fatal(err)
	}
	ring := strings.TrimSpace(run(t, "", "keyctl", "search", "@s", "keyring", ns))
	id := strings.TrimSpace(run(t, "", "keyctl", "search", ring, "user", account))
	if got := run(t, "", "keyctl", "pipe", id); got != "seen-by-keyctl" {
		t.Fatalf("keyctl pipe: got %q", got)
	}
	if err := b.Delete(t.Context(), account); err != nil {
		t.Fatal(err)
	}
}

func TestRealPass(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_PASS", "pass")
	ns := unique("hk-test")
	b := open(t, "pass", backends.Config{Env: iox.SystemEnv(), Namespace: ns, Timeout: suiteTimeout})
	// Runs last, after the suite's own cleanup.
	t.Cleanup(func() {
		dir := filepath.Join(os.Getenv("PASSWORD_STORE_DIR"), ns)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace folder left in the store after the last delete: %v", err)
		}
	})
	backendtest.Run(t, b)

	// Entries are ordinary pass entries, ':' escaped: `pass show` reads
	// ours, and we read one written by `pass insert`.
	account := "vault:" + unique("cli")
	if err := b.Set(t.Context(), account, "seen-by-pass"); err != nil {
		t.Fatal(err)
	}
	entry := ns + "/" + strings.ReplaceAll(account, ":", "%3A")
	if got := run(t, "", "pass", "show", entry); got != "seen-by-pass" {
		t.Fatalf("pass show %s: got %q", entry, got)
	}
	run(t, "from-pass-insert", "pass", "insert", "-m", "-f", entry)
	if got, err := b.Get(t.Context(), account); err != nil || got != "from-pass-insert" {
		t.Fatalf("get after pass insert: %q, %v", got, err)
	}
	if err := b.Delete(t.Context(), account); err != nil {
		t.Fatal(err)
	}
}

// KWallet cannot be provisioned headless (a wallet is created through a KDE
// dialog), so CI runs the suite against a fake kwalletd (kwallet_linux_test.go)
// and this one runs only on a KDE desktop that asks for it.
func TestRealKWallet(t *testing.T) {
	if os.Getenv("HERMES_KEYS_REAL_KWALLET") != "1" {
		t.Skip("REAL BACKEND SUITE SKIPPED: kwallet: set HERMES_KEYS_REAL_KWALLET=1 on a KDE desktop to run it; CI covers it with a fake kwalletd only")
	}
	backendtest.Run(t, open(t, "kwallet", backends.Config{Env: iox.SystemEnv(), Namespace: unique("hk-test"), Timeout: suiteTimeout}))
}

// keyctl's probe answers from the kernel, and a missing item is ErrNotFound
// even before the namespace keyring exists.
func TestRealKeyctlNoKeyring(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_KEYCTL", "keyctl")
	b := open(t, "keyctl", backends.Config{Namespace: unique("hk-absent")})
	if _, err := b.Get(t.Context(), "vault:x"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("get with no keyring: %v", err)
	}
	if err := b.Delete(t.Context(), "vault:x"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("delete with no keyring: %v", err)
	}
}
