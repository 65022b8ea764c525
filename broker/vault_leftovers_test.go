package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/lockfile"
)

// Crashed vault writes leave .vault.age.tmp.* behind; they are removed
// under vault.lock, and nothing else is (issue 10 item 9).
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	ours := []string{".vault.age.tmp.0123456789abcdef", ".vault.json.tmp.a1b2c3d4e5f6"}
	others := []string{"vault.age", "vault.json", "identity.age", ".vault.age.tmp.not-hex", "auth.json.tmp.123.abc"}
	for _, n := range append(append([]string{}, ours...), others...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	// While a writer holds vault.lock nothing is removed.
	lk, err := lockfile.Acquire(context.Background(), filepath.Join(dir, LockFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	saved := LockTimeout
	LockTimeout = 100 * time.Millisecond
	defer func() { LockTimeout = saved }()
	if _, err := RemoveStaleTemps(context.Background(), dir); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("with vault.lock held: %v", err)
	}
	for _, n := range ours {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("%s went while a writer held the lock", n)
		}
	}
	lk.Unlock()
	removed, err := RemoveStaleTemps(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range removed {
		names = append(names, filepath.Base(p))
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != ours[0] || names[1] != ours[1] {
		t.Fatalf("removed %v, want %v", names, ours)
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
}
