package codex

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"github.com/zalando/go-keyring"
)

// zalandoKeyring is the tiny adapter the lead's wiring mirrors: zalando's
// Get under the caller's deadline, its not-found mapped to ErrNotFound.
type zalandoKeyring struct{}

func (zalandoKeyring) Get(ctx context.Context, service, account string) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := keyring.Get(service, account)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if errors.Is(r.err, keyring.ErrNotFound) {
			return "", fmt.Errorf("%s/%s: %w", service, account, ErrNotFound)
		}
		return r.v, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// secretTool runs secret-tool with the value (if any) on stdin.
func secretTool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "secret-tool", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("secret-tool %s: %v", args[0], err)
	}
	return string(out)
}

// storeLikeCodex writes an item the way keyring-rs does for Codex on Linux:
// attributes service and username, in the default collection.
func storeLikeCodex(t *testing.T, label, service, account, value string) {
	t.Helper()
	secretTool(t, value, "store", "--label="+label, "service", service, "username", account)
	t.Cleanup(func() {
		// The test's own item in a throwaway CODEX_HOME's namespace; the
		// code under test never deletes anything.
		exec.Command("secret-tool", "clear", "service", service, "username", account).Run()
	})
}

// TestRealSecretService reads Codex's keyring sources from a real Secret
// Service (scripts/test provisions gnome-keyring on a private bus and sets
// HERMES_KEYS_REAL_SECRET_SERVICE=1), through zalando/go-keyring.
func TestRealSecretService(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_SECRET_SERVICE", "secret-service")
	if _, err := exec.LookPath("secret-tool"); err != nil {
		t.Fatal("HERMES_KEYS_REAL_SECRET_SERVICE=1 but secret-tool is missing (libsecret-tools)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("direct entry", func(t *testing.T) {
		home := t.TempDir()
		writeFile(t, filepath.Join(home, "config.toml"), []byte("cli_auth_credentials_store = \"keyring\"\n[features]\nsecret_auth_storage = false\n"))
		g := goodLogin(t)
		value := compact(t, g.doc())
		account := "cli|" + hashOf(t, home)
		storeLikeCodex(t, "Codex Auth", KeyringService, account, value)
		before := treeSnapshot(t, home)

		l, err := Read(ctx, Options{CodexHome: home, Keyring: zalandoKeyring{}, Now: clock})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if l.Summary.Source != SourceKeyring || l.Tokens.RefreshToken.Reveal() != g.refresh || l.Tokens.AccessToken.Reveal() != g.access {
			t.Errorf("read %s, tokens differ", l.Summary.Source)
		}
		if d := diffSnapshots(before, treeSnapshot(t, home)); len(d) > 0 {
			t.Errorf("CODEX_HOME changed: %q", d)
		}
		if got := secretTool(t, "", "lookup", "service", KeyringService, "username", account); got != value {
			t.Error("the keyring item changed")
		}
		assertNoSecret(t, "summary", l.Summary.String(), g.secrets()...)
	})

	t.Run("secrets file with its passphrase", func(t *testing.T) {
		home := t.TempDir()
		writeFile(t, filepath.Join(home, "config.toml"), []byte("cli_auth_credentials_store = \"auto\"\n[features]\nsecret_auth_storage = true\n"))
		g := goodLogin(t)
		writeFile(t, filepath.Join(home, "secrets", "codex_auth.age"),
			ageEncrypt(t, testPassphrase, map[string]string{"global/CODEX_AUTH": compact(t, g.doc())}))
		account := "secrets|" + hashOf(t, home)
		storeLikeCodex(t, "codex secrets", SecretsKeyringService, account, testPassphrase)
		before := treeSnapshot(t, home)

		l, err := Read(ctx, Options{CodexHome: home, Keyring: zalandoKeyring{}, Now: clock})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if l.Summary.Source != SourceSecrets || l.Tokens.RefreshToken.Reveal() != g.refresh {
			t.Errorf("read %s", l.Summary.Source)
		}
		if d := diffSnapshots(before, treeSnapshot(t, home)); len(d) > 0 {
			t.Errorf("CODEX_HOME changed: %q", d)
		}
		if got := secretTool(t, "", "lookup", "service", SecretsKeyringService, "username", account); got != testPassphrase {
			t.Error("the passphrase item changed")
		}
	})

	t.Run("nothing stored", func(t *testing.T) {
		home := t.TempDir()
		_, err := Read(ctx, Options{CodexHome: home, Keyring: zalandoKeyring{}, Now: clock})
		if reasonOf(err) != ReasonNotLoggedIn || strings.Contains(err.Error(), "could not be checked") {
			t.Fatalf("err = %v", err)
		}
	})
}
