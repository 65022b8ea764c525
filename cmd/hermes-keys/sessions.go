package main

import (
	"context"
	"fmt"

	"github.com/hermes-keys/hermes-keys/broker"
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
		return fn(st)
	})
}
