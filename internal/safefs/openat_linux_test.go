package safefs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A kernel without openat2 (before 5.6, or a seccomp filter that answers
// ENOSYS) falls back to O_NOFOLLOW and refuses the same links.
func TestOpenNoFollowWithoutOpenat2(t *testing.T) {
	calls := 0
	openat2 = func(int, string, *unix.OpenHow) (int, error) { calls++; return -1, unix.ENOSYS }
	defer func() { openat2 = unix.Openat2 }()
	checkNoFollow(t)
	if calls == 0 {
		t.Fatal("openat2 was never tried")
	}
}
