package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/spf13/cobra"
)

type unlockOptions struct {
	app *App
	TTL time.Duration
}

func newUnlockCmd(app *App) *cobra.Command {
	opts := &unlockOptions{app: app}
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Open the vault once and keep its key in memory for a while",
		Long: `unlock reads the vault key from its backend once (for the file backend the
passphrase comes from HERMES_KEYS_PASSPHRASE_FILE, the systemd credential
hermes-keys-passphrase, HERMES_KEYS_PASSPHRASE or the terminal). With a
running broker daemon, the daemon opens the vault itself: it reads the key
from its own backend (a keychain), or this command reads the passphrase and
sends it over the daemon's authenticated socket; the vault key itself never
leaves the daemon, which keeps it in memory for --ttl.

Without a daemon it caches the key in the Linux kernel's user keyring (@u,
key "hermes-keys:vault:<vault id>") for --ttl, so that every hermes-keys
process of this user opens the vault without asking again; the kernel
forgets it at the end of the ttl, and at reboot. ` + "`hermes-keys lock`" + ` forgets it
everywhere at once.`,
		Example: "  hermes-keys unlock --ttl 8h\n  HERMES_KEYS_PASSPHRASE_FILE=~/.config/hermes-keys/pass hermes-keys unlock",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return unlockRun(cmd, opts) },
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 8*time.Hour, "how long the key is kept")
	return cmd
}

func unlockRun(cmd *cobra.Command, opts *unlockOptions) error {
	a := opts.app
	ctx := cmd.Context()
	if opts.TTL < time.Second {
		return usageError{errors.New("--ttl must be at least 1s")}
	}
	if c := a.daemonClient(); c != nil {
		handled, err := a.unlockDaemon(ctx, c, opts.TTL)
		c.Close()
		if handled {
			return err
		}
	}
	v, err := a.openVaultUncached()
	if err != nil {
		return err
	}
	if !daemon.KeyringSupported {
		return xerr.WithHint(errors.New("no broker daemon answers, and this platform has no kernel keyring to keep the key in"),
			"start the daemon (`hermes-keys serve`, or the launchd agent in contrib/launchd) and run unlock again")
	}
	id, err := v.Identity(ctx)
	if err != nil {
		return err
	}
	if err := daemon.CacheIdentity(v.Meta.ID, id, opts.TTL); err != nil {
		return xerr.WithHint(err, "start the daemon with `hermes-keys serve` instead")
	}
	fmt.Fprintf(a.IO.ErrOut, "cached the key of vault %s in the kernel user keyring for %s\n", v.Meta.ID, opts.TTL)
	return nil
}

// unlockDaemon makes the daemon open the vault itself: it reads the key
// from its own backend, or, for the file backend, from identity.age with
// the passphrase this command reads and sends over the authenticated
// socket. The vault key never crosses the socket. handled is false when
// the daemon serves another vault (the kernel keyring is used instead).
func (a *App) unlockDaemon(ctx context.Context, c *daemon.Client, ttl time.Duration) (handled bool, err error) {
	dir, err := a.vaultDir()
	if err != nil {
		return true, err
	}
	meta, err := broker.LoadMeta(dir)
	if err != nil {
		return true, err
	}
	// The daemon now reads a keychain or runs the scrypt of identity.age
	// (seconds, or a keychain prompt): more than a get's timeout.
	c.Timeout = max(a.Timeout, 30*time.Second) + 10*time.Second
	if _, serr := os.Stat(filepath.Join(dir, backends.IdentityFile)); serr == nil {
		pass, perr := backends.ReadPassphrase(a.Env, a.IO, "passphrase for the vault key: ", false)
		if perr != nil {
			return true, perr
		}
		err = c.UnlockPassphrase(ctx, pass, ttl)
		clear(pass)
	} else {
		err = c.Unlock(ctx, ttl)
	}
	var de *daemon.Error
	switch {
	case err == nil:
		fmt.Fprintf(a.IO.ErrOut, "the broker daemon holds the key of vault %s for %s\n", meta.ID, ttl)
		return true, nil
	case errors.As(err, &de) && de.Code == daemon.CodeVaultMismatch:
		fmt.Fprintf(a.IO.ErrOut, "note: the broker daemon serves another vault; caching the key in the kernel keyring instead\n")
		return false, nil
	}
	return true, fmt.Errorf("the broker daemon could not open the vault: %w", err)
}

func newLockCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Forget the unlocked vault key: in the broker daemon and in the kernel keyring",
		Long: `lock makes the running broker daemon forget the vault key (it then stays
locked until the next unlock, even when it could read the key from the
backend by itself) and removes the key cached in the kernel keyring by
unlock. The backend (keychain, identity.age) is not touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return lockRun(cmd, app) },
	}
}

func lockRun(cmd *cobra.Command, a *App) error {
	root, err := a.hermesRoot()
	if err != nil {
		return err
	}
	dir, err := vaultDirOf(root)
	if err != nil {
		return err
	}
	meta, err := broker.LoadMeta(dir)
	if err != nil {
		return err
	}
	var errs []error
	if c := a.daemonClient(); c != nil {
		err := c.Lock(cmd.Context())
		c.Close()
		var de *daemon.Error
		switch {
		case err == nil:
			fmt.Fprintf(a.IO.ErrOut, "the broker daemon forgot the key of vault %s\n", meta.ID)
		case errors.As(err, &de) && de.Code == daemon.CodeVaultMismatch:
			fmt.Fprintf(a.IO.ErrOut, "note: the broker daemon serves another vault; left it alone\n")
		default:
			errs = append(errs, fmt.Errorf("lock the broker daemon: %w", err))
		}
	}
	had, err := daemon.ForgetCachedIdentity(meta.ID)
	switch {
	case err != nil:
		errs = append(errs, err)
	case had:
		fmt.Fprintf(a.IO.ErrOut, "removed the key of vault %s from the kernel keyring\n", meta.ID)
	}
	return errors.Join(errs...)
}

// useCachedIdentity gives v the identity that `hermes-keys unlock` cached
// in the kernel keyring, if there is one for this vault, so that the
// backend (and its passphrase) is not needed. A stale or foreign entry is
// ignored: the backend is asked as usual.
func (a *App) useCachedIdentity(v *broker.Vault) {
	if v.Unlocked() {
		return
	}
	if id, err := daemon.CachedIdentity(v.Meta.ID); err == nil {
		v.SetIdentity(id)
	}
}

// openVaultUncached is openVault without the kernel keyring cache: unlock
// proves the passphrase (or the keychain) each time.
func (a *App) openVaultUncached() (*broker.Vault, error) {
	dir, err := a.vaultDir()
	if err != nil {
		return nil, err
	}
	meta, err := a.loadMeta(dir, false)
	if err != nil {
		return nil, err
	}
	name := meta.Backend
	if a.Backend != "" && a.Backend != "auto" {
		name = a.Backend
	}
	b, err := backends.Open(name, a.backendConfig(dir))
	if err != nil {
		return nil, err
	}
	v := broker.OpenMeta(dir, meta, b) // vault.json read once (issue 12)
	v.Now = a.Now
	return v, nil
}
