//go:build !windows

package hermes

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadDocFIFO: a FIFO in place of auth.json is refused at once; the
// read never waits for a writer. A hang here fails the test by timeout.
func TestReadDocFIFO(t *testing.T) {
	p := filepath.Join(tempDir(t), "auth.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDoc(p); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("fifo: %v, want ErrNotRegular", err)
	}
	// The O_NONBLOCK open itself does not block either (the race where a
	// FIFO replaces the file after the Stat check).
	f, err := openNonBlocking(p)
	if err != nil {
		t.Fatalf("non-blocking open of a fifo: %v", err)
	}
	f.Close()
}
