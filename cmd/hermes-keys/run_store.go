package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/migrate"
)

// runStore is the vault as `run` uses it, and its directory (where the
// run registry lives). When a broker daemon of this vault answers and can
// open the vault, run goes through it (open, seal) and never holds the
// vault key: a server's run needs no passphrase, and a core of run holds
// no key. Otherwise run opens the vault itself, as every command does.
// The vault is read once either way, so that a vault that cannot be
// opened fails run before CMD starts (exit 4).
func (a *App) runStore(ctx context.Context) (migrate.Store, string, func(), error) {
	dir, err := a.vaultDir()
	if err != nil {
		return nil, "", nil, err
	}
	if st := a.daemonStore(ctx, dir); st != nil {
		fb := &fallbackStore{daemon: st, open: a.openVault}
		return fb, dir, func() { st.Close() }, nil
	}
	v, err := a.openVault()
	if err != nil {
		return nil, "", nil, err
	}
	if _, err := v.Read(ctx); err != nil {
		return nil, "", nil, err
	}
	return v, v.Dir, func() {}, nil
}

// daemonStore returns the daemon's Store when one serves this vault and
// opens it (unlocked, or able to unlock itself); nil otherwise.
func (a *App) daemonStore(ctx context.Context, dir string) *daemon.Store {
	if a.Backend != "" && a.Backend != "auto" {
		return nil // --backend names a backend to use: use it
	}
	c := a.daemonClient() // checks the socket and warns on a squatter
	if c == nil {
		return nil
	}
	vault := c.Vault
	c.Close()
	root, err := a.hermesRoot()
	if err != nil || filepath.Join(root, broker.DirName) != dir {
		return nil
	}
	// A seal waits for the vault lock; give it the lock timeout and more.
	st, _, err := daemon.OpenStore(ctx, daemon.SocketPath(a.Env, root), vault, a.LockTimeout+30*time.Second)
	if err != nil {
		var de *daemon.Error
		if errors.As(err, &de) && de.Code != daemon.CodeLocked && de.Code != daemon.CodeVaultMismatch {
			fmt.Fprintf(a.IO.ErrOut, "hermes-keys: the broker daemon cannot open the vault (%s); opening it here\n", printableText(de.Message))
		}
		return nil
	}
	return st
}

// childEnvWithoutSecrets drops HERMES_KEYS_PASSPHRASE from CMD's
// environment: Hermes never needs the vault's passphrase, and its plugins
// and subprocesses must not see it. HERMES_KEYS_PASSPHRASE_FILE (a path,
// not a secret) stays, so that a `hermes-keys env` Hermes runs as its
// secrets.command still opens a file-backend vault.
func childEnvWithoutSecrets(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == "HERMES_KEYS_PASSPHRASE" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// fallbackStore goes through the daemon until the daemon says it is
// locked (its idle timeout or ttl ran out, or `hermes-keys lock`, while a
// long run was quiet): then run opens the vault itself, as it would have
// without a daemon, rather than leave Hermes's tokens in plaintext at exit.
type fallbackStore struct {
	daemon *daemon.Store
	open   func() (*broker.Vault, error)

	mu    sync.Mutex
	vault *broker.Vault
}

func (f *fallbackStore) ID() string { return f.daemon.ID() }

// store is the daemon's Store, or the vault once the daemon was locked.
func (f *fallbackStore) store(err error) (migrate.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vault != nil {
		return f.vault, nil
	}
	if err == nil {
		return f.daemon, nil
	}
	v, oerr := f.open()
	if oerr != nil {
		return nil, errors.Join(err, oerr)
	}
	f.vault = v
	return v, nil
}

func (f *fallbackStore) Read(ctx context.Context) (*broker.Contents, error) {
	st, _ := f.store(nil)
	c, err := st.Read(ctx)
	if errors.Is(err, backends.ErrLocked) && st == migrate.Store(f.daemon) {
		if st, err = f.store(err); err != nil {
			return nil, err
		}
		return st.Read(ctx)
	}
	return c, err
}

func (f *fallbackStore) Update(ctx context.Context, change func(c *broker.Contents) (bool, error)) (*broker.Contents, error) {
	st, _ := f.store(nil)
	c, err := st.Update(ctx, change)
	if errors.Is(err, backends.ErrLocked) && st == migrate.Store(f.daemon) {
		if st, err = f.store(err); err != nil {
			return nil, err
		}
		return st.Update(ctx, change)
	}
	return c, err
}
