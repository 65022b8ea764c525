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

// TestDelay: with a delay, nothing is set up (nor notified) before it
// ends; then one notification says "look again", and events follow.
func TestDelay(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan time.Time, 16)
	start := time.Now()
	go Run(ctx, []string{dir}, Options{Recheck: time.Hour, Delay: 150 * time.Millisecond}, func() { got <- time.Now() })
	select {
	case at := <-got:
		if d := at.Sub(start); d < 150*time.Millisecond {
			t.Fatalf("notified %v in, before the delay ended", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification when the delayed watch was set up")
	}
	os.WriteFile(filepath.Join(dir, "auth.json"), []byte("{}"), 0o600)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for a write after the delay")
	}

	// Cancelled during the delay: Run returns without notifying.
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{})
	n := 0
	go func() {
		Run(ctx2, []string{dir}, Options{Delay: time.Hour}, func() { n++ })
		close(done)
	}()
	cancel2()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when cancelled during the delay")
	}
	if n != 0 {
		t.Fatalf("notified %d times though cancelled during the delay", n)
	}
}
