package backends

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// What the kernel answers, mapped to what callers branch on. EPERM and
// ENOSYS are what a seccomp-filtered container (Docker's default profile)
// gives, which this machine cannot reproduce.
func TestKeyctlErrnoMapping(t *testing.T) {
	k := &keyctl{ring: "ns"}
	for _, c := range []struct {
		errno unix.Errno
		want  error
	}{
		{unix.ENOKEY, ErrNotFound},
		{unix.EKEYEXPIRED, ErrNotFound},
		{unix.EKEYREVOKED, ErrNotFound},
		{unix.EPERM, ErrUnavailable},
		{unix.ENOSYS, ErrUnavailable},
		{unix.EDQUOT, ErrTooBig},
		{unix.EACCES, nil},
	} {
		err := k.fail("vault:x", "search", c.errno)
		for _, s := range []error{ErrNotFound, ErrUnavailable, ErrTooBig} {
			if errors.Is(err, s) != (s == c.want) {
				t.Errorf("%v: got %v, want it to wrap %v", c.errno, err, c.want)
			}
		}
		if !strings.Contains(err.Error(), "ns/vault:x") {
			t.Errorf("%v: %q does not name the item", c.errno, err)
		}
	}
}
