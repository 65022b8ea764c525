package watch

import (
	"context"
	"os"
	"time"
)

type stamp struct {
	size  int64
	mtime time.Time
}

// snapshotDirs records name, size and mtime of every entry of dirs.
func snapshotDirs(dirs []string) map[string]stamp {
	m := map[string]stamp{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			m[d] = stamp{size: -1}
			continue
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				m[d+"/"+e.Name()] = stamp{fi.Size(), fi.ModTime()}
			}
		}
	}
	return m
}

func equal(a, b map[string]stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// startPoll scans dirs every opts.Poll and signals on any difference.
func startPoll(ctx context.Context, dirs []string, opts Options, signal func()) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		last := snapshotDirs(dirs)
		t := time.NewTicker(opts.Poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := snapshotDirs(dirs)
				if !equal(now, last) {
					last = now
					signal()
				}
			}
		}
	}()
	return cancel
}
