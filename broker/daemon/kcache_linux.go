package daemon

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Key permissions: everything for a possessor, and view, read, write,
// search and setattr for processes of the same uid (a process of the user
// does not always possess @u: a login session keyring may not link it).
// Group and other get nothing.
const keyPerm = 0x3f000000 | 0x00010000 | 0x00020000 | 0x00040000 | 0x00080000 | 0x00200000

// KeyringSupported reports whether CacheIdentity can work here.
const KeyringSupported = true

// CacheIdentity stores identity in the user keyring for ttl (at least one
// second). The identity travels only through the add_key system call.
func CacheIdentity(vaultID, identity string, ttl time.Duration) error {
	if ttl < time.Second {
		ttl = time.Second
	}
	id, err := unix.AddKey("user", KeyringDescription(vaultID), []byte(identity), unix.KEY_SPEC_USER_KEYRING)
	if err != nil {
		return fmt.Errorf("kernel keyring: add_key: %w", err)
	}
	if err := unix.KeyctlSetperm(id, keyPerm); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return fmt.Errorf("kernel keyring: setperm: %w", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(ttl/time.Second), 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return fmt.Errorf("kernel keyring: set timeout: %w", err)
	}
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
