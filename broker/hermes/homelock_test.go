package hermes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestAcquireHomeLockNeverCreatesTheHome: a lock inside a profile whose
// directory is gone fails with ErrHomeGone and creates nothing (a ghost
// profiles/<name>/auth.lock would make Hermes list the profile again).
func TestAcquireHomeLockNeverCreatesTheHome(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, ProfilesDir, "gone")
	_, err := AcquireHomeLock(context.Background(), filepath.Join(dir, AuthLockFile), 0)
	if !errors.Is(err, ErrHomeGone) {
		t.Fatalf("err = %v, want ErrHomeGone", err)
	}
	for _, p := range []string{dir, filepath.Join(root, ProfilesDir)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lk, err := AcquireHomeLock(context.Background(), filepath.Join(dir, AuthLockFile), 0)
	if err != nil {
		t.Fatalf("an existing home: %v", err)
	}
	lk.Unlock()
}
