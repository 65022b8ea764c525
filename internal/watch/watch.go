// Package watch tells a caller that something in a set of directories may
// have changed. Hermes saves by renaming a temp file over the target, which
// replaces the inode, so we watch directories, not files. Events can be
// missed (a watch limit, a platform without inotify), so a periodic tick
// fires as well: callers must treat every notification as "look again", not
// as a precise diff.
package watch

import (
	"context"
	"time"
)

// Options tune Run.
type Options struct {
	// Settle coalesces bursts: a notification waits this long after the
	// last event. Hermes writes a temp file then renames it.
	Settle time.Duration
	// Recheck fires a notification this often even without events.
	Recheck time.Duration
	// Poll is the scan interval where no kernel events are available.
	Poll time.Duration
	// Delay postpones setting up the watch: a command that ends sooner
	// never pays for one (closing an inotify descriptor waits for an RCU
	// grace period, several milliseconds). When the watch is in place,
	// notify is called once, for whatever changed meanwhile.
	Delay time.Duration
}

func (o *Options) defaults() {
	if o.Settle <= 0 {
		o.Settle = 20 * time.Millisecond
	}
	if o.Recheck <= 0 {
		o.Recheck = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
}

// Run calls notify, from one goroutine, whenever something in dirs may have
// changed, until ctx is done. Directories that do not exist yet are polled
// until they do.
func Run(ctx context.Context, dirs []string, opts Options, notify func()) error {
	opts.defaults()
	events := make(chan struct{}, 1)
	signal := func() {
		select {
		case events <- struct{}{}:
		default:
		}
	}
	if opts.Delay > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.Delay):
		}
	}
	stop, err := start(ctx, dirs, opts, signal)
	if err != nil {
		stop = startPoll(ctx, dirs, opts, signal)
	}
	defer stop()
	tick := time.NewTicker(opts.Recheck)
	defer tick.Stop()
	var settle <-chan time.Time
	if opts.Delay > 0 {
		notify()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			settle = time.After(opts.Settle)
		case <-settle:
			settle = nil
			notify()
		case <-tick.C:
			notify()
		}
	}
}
