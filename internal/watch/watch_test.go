package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRenameIsSeen: a temp-file-and-rename save, as Hermes does, produces
// a notification without waiting for the periodic recheck.
func TestRenameIsSeen(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(map[bool]string{false: "kernel", true: "poll"}[poll], func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan struct{}, 16)
			opts := Options{Recheck: time.Hour}
			if poll {
				opts.Poll = 10 * time.Millisecond
			}
			ready := make(chan struct{})
			go func() {
				if poll {
					events := make(chan struct{}, 1)
					stop := startPoll(ctx, []string{dir}, opts, func() {
						select {
						case events <- struct{}{}:
						default:
						}
					})
					defer stop()
					close(ready)
					for {
						select {
						case <-ctx.Done():
							return
						case <-events:
							got <- struct{}{}
						}
					}
				}
				close(ready)
				Run(ctx, []string{dir}, opts, func() { got <- struct{}{} })
			}()
			<-ready
			time.Sleep(50 * time.Millisecond) // let the watch be registered
			tmp := filepath.Join(dir, ".auth_x.tmp")
			os.WriteFile(tmp, []byte("{}"), 0o600)
			os.Rename(tmp, filepath.Join(dir, "auth.json"))
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("no notification for a rename")
			}
		})
	}
}
