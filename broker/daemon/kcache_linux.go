package daemon

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Key permissions: everything for a possessor, and view, read, write,
// search and setattr for processes of the same uid (a process of the user
// does not always possess @u: a login session keyring may not link it, and a
// bare `keyctl session -` never does). Group and other get nothing.
const keyPerm = 0x3f000000 | 0x00010000 | 0x00020000 | 0x00040000 | 0x00080000 | 0x00200000

// KeyringSupported reports whether CacheIdentity can work here.
const KeyringSupported = true

// CacheIdentity stores identity in the user keyring for ttl (at least one
// second). The identity travels only through the add_key system call.
//
// The key is made in the session keyring, which this process always
// possesses, and only then linked into @u: a key made straight in @u is not
// possessed when the session keyring does not link @u (`keyctl session -`,
// some login sessions), and the kernel's default permissions then refuse
// us even the setperm that would open it to the user. Its permissions and
// timeout are set before it is linked into @u, so @u never holds it without
// them; linking displaces an earlier key of the same description in one
// step. The session keyring's link is dropped at the end: @u is the one
// place it lives, and `lock` (or the timeout) ends it.
func CacheIdentity(vaultID, identity string, ttl time.Duration) error {
	if ttl < time.Second {
		ttl = time.Second
	}
	id, err := unix.AddKey("user", KeyringDescription(vaultID), []byte(identity), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		return fmt.Errorf("kernel keyring: add_key: %w", err)
	}
	fail := func(op string, err error) error {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return fmt.Errorf("kernel keyring: %s: %w", op, err)
	}
	if err := unix.KeyctlSetperm(id, keyPerm); err != nil {
		return fail("setperm", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(ttl/time.Second), 0, 0); err != nil {
		return fail("set timeout", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0); err != nil {
		return fail("link into the user keyring", err)
	}
	// Where the session keyring is the user session keyring, or links @u,
	// the key stays reachable through @u; an unlink that fails leaves only
	// a second link to the same key, which lock and the timeout end too.
	unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_SESSION_KEYRING, 0, 0)
	return nil
}

// CachedIdentity returns the identity cached for vaultID, or ErrNotCached.
func CachedIdentity(vaultID string) (string, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KeyringDescription(vaultID), 0)
	if err != nil {
		if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) {
			return "", ErrNotCached
		}
		return "", fmt.Errorf("kernel keyring: search: %w", err)
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) {
				return "", ErrNotCached
			}
			return "", fmt.Errorf("kernel keyring: read: %w", err)
		}
		if n <= len(buf) {
			s := string(buf[:n])
			clear(buf)
			return s, nil
		}
		if n > 64<<10 {
			return "", fmt.Errorf("kernel keyring: key %s is %d bytes, not a vault key", KeyringDescription(vaultID), n)
		}
		buf = make([]byte, n)
	}
}

// ForgetCachedIdentity removes the cached identity; none is not an error.
// It reports whether there was one.
func ForgetCachedIdentity(vaultID string) (bool, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KeyringDescription(vaultID), 0)
	if err != nil {
		if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) {
			return false, nil
		}
		return false, fmt.Errorf("kernel keyring: search: %w", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err != nil {
		if _, uerr := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0); uerr != nil {
			return false, fmt.Errorf("kernel keyring: invalidate: %w", err)
		}
	}
	return true, nil
}
