package migrate

import (
	"context"
	"sync"

	"github.com/hermes-keys/hermes-keys/internal/watch"
)

// Live keeps the vault in step with a materialised store while Hermes
// runs: every change Hermes writes is sealed (without scrubbing) as soon
// as the watcher sees it, and the store is re-checked periodically in
// case an event was missed. Hermes's own removals (logout) are carried to
// the vault; see SyncOptions.Seen.
type Live struct {
	Root  *Root
	Watch watch.Options
	// OnSync, when set, is told of every sync that ran (errors included);
	// it must not block.
	OnSync func(*SyncResult, error)

	mu   sync.Mutex
	seen map[string]bool
	gone map[string]bool // what Hermes removed this session (see SyncOptions.Gone)
	fp   string
}

// SetBaseline sets the record keys the files hold now (what Materialise
// returned).
func (l *Live) SetBaseline(present map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = present
	l.fp = ""
}

// Seen returns the record keys the files held at the last sync.
func (l *Live) Seen() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen
}

// Run watches the store's directories and syncs until ctx is done.
func (l *Live) Run(ctx context.Context) error {
	return watch.Run(ctx, l.Root.Dirs(), l.Watch, func() { l.Sync(ctx, false) })
}

// Sync seals what changed since the last sync; with force it syncs even
// when no file looks changed.
func (l *Live) Sync(ctx context.Context, force bool) (*SyncResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fp := l.Root.Fingerprint()
	if !force && fp == l.fp {
		return nil, nil
	}
	res, err := l.Root.Sync(ctx, SyncOptions{Seen: l.seen, Gone: l.gone})
	if err == nil {
		l.seen = res.Present
		l.fp = fp
		for _, k := range res.Removed {
			if l.gone == nil {
				l.gone = map[string]bool{}
			}
			l.gone[k] = true
		}
	}
	if l.OnSync != nil && (err == nil || ctx.Err() == nil) {
		l.OnSync(res, err)
	}
	return res, err
}
