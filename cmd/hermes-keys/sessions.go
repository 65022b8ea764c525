package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/migrate"
)

// sessionState is what the run registry said when a command looked.
type sessionState struct {
	Live      int `json:"live_runs"`
	Recovered int `json:"recovered_blocks,omitempty"`
	Crashed   int `json:"crashed_runs,omitempty"`
}

// withSessions runs fn under the run registry's lock of v's root, after
// recovering what crashed runs left behind: when a run died without
// leaving (SIGKILL, power loss) and no run is live any more, the store is
// sealed and scrubbed first. fn learns how many runs are live: it must not
// scrub while one is, because that run's Hermes uses the tokens.
func (a *App) withSessions(ctx context.Context, v *broker.Vault, fn func(st sessionState) error) error {
	reg := &session.Registry{Dir: sessionsDir(v), LockTimeout: a.LockTimeout}
	return reg.DoWith(ctx, func(live, stale int, seen map[string]bool) error {
		st := sessionState{Live: live, Crashed: stale}
		if stale > 0 && live == 0 {
			homes, err := a.homes(true)
			if err != nil {
				return err
			}
			// seen: what the crashed run's files held at its last sync; a
			// block gone since was removed by Hermes (a logout).
			res, err := migrate.NewRoot(homes, v, a.Now).Sync(ctx, migrate.SyncOptions{Scrub: true, Seen: seen})
			if err != nil {
				return fmt.Errorf("recover after a crashed `hermes-keys run`: %w", err)
			}
			st.Recovered = len(res.Sealed)
			fmt.Fprintf(a.IO.ErrOut, "hermes-keys: a `hermes-keys run` ended without cleaning up; sealed and scrubbed %d block(s)\n", len(res.Sealed))
		}
		a.removeLeftovers(ctx, v)
		return fn(st)
	})
}

// removeLeftovers removes the temp files crashed hermes-keys writers left:
// the vault's (under vault.lock) and those of the Hermes store's writer
// (see migrate.RemoveLeftovers for the rule). It runs after the recovery,
// so the vault holds what that sealed. A failure leaves them for the next
// command and only warns: the command itself goes on.
func (a *App) removeLeftovers(ctx context.Context, v *broker.Vault) {
	warn := func(err error) {
		fmt.Fprintf(a.IO.ErrOut, "hermes-keys: warning: leftover temp files stay for now: %v\n", err)
	}
	lctx, cancel := context.WithTimeout(ctx, leftoverLockWait)
	defer cancel()
	if _, err := broker.RemoveStaleTemps(lctx, v.Dir); err != nil {
		warn(err)
	}
	homes, err := a.homes(true)
	if err != nil {
		return
	}
	any := false
	for _, h := range homes {
		for _, d := range []string{h.Dir, h.SharedDir} {
			if t, _ := hermes.OwnTemps(d); len(t) > 0 {
				any = true
			}
		}
	}
	if !any {
		return
	}
	c, err := v.Read(ctx)
	if err != nil {
		warn(err)
		return
	}
	res, err := migrate.RemoveLeftovers(homes, func(key string) bool { return c.Records[key] != nil })
	if err != nil {
		warn(err)
	}
	if len(res.Removed) > 0 {
		fmt.Fprintf(a.IO.ErrOut, "hermes-keys: removed %d temp file(s) a crashed hermes-keys left\n", len(res.Removed))
	}
	for _, p := range res.Kept {
		fmt.Fprintf(a.IO.ErrOut, "hermes-keys: warning: %s, left by a crashed hermes-keys, holds a secret the vault and the store lack; it stays (check it, then seal its content or remove it)\n", p)
	}
}

// leftoverLockWait bounds waiting for vault.lock to remove the vault's
// leftovers: a writer holding it is at work, and they can go next time.
const leftoverLockWait = 2 * time.Second
