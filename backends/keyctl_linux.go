package backends

// The kernel keyring is the one store that needs no daemon, no D-Bus and no
// package: a server or container without a desktop session still has it. It
// lives in kernel memory, so a key is gone at logout or reboot (Persistent is
// false) and auto never picks it; it suits a vault that is also kept by a
// recovery key, or a cache in front of the file backend.
//
// Keys are "user" keys in a keyring named after the namespace, linked under
// the session keyring: every process of the login session can reach them,
// other sessions and other users cannot. Where a process has no session
// keyring the kernel makes one that dies with that session.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// keyctlLimit is the largest payload of a "user" key. A non-root user also
// has a quota for all keys together (/proc/sys/kernel/keys/maxbytes, 20,000
// bytes by default); going over it is reported as ErrTooBig.
const keyctlLimit = 32767

func init() {
	register("keyctl", func(cfg Config) (*Backend, error) {
		b := Guard("keyctl", &keyctl{ring: cfg.namespace()}, keyctlLimit, cfg.Timeout)
		b.Persistent = false
		return b, nil
	})
}

type keyctl struct {
	ring string     // description of our keyring
	mu   sync.Mutex // serialises creating the keyring within the process
}

func (k *keyctl) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false); err != nil {
		return k.fail("", "session keyring", err)
	}
	return nil
}

func (k *keyctl) Get(ctx context.Context, account string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id, err := k.find(account)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			return "", k.fail(account, "read", err)
		}
		if n <= len(buf) {
			s := string(buf[:n])
			clear(buf)
			return s, nil
		}
		clear(buf)
		buf = make([]byte, n)
	}
}

func (k *keyctl) Set(ctx context.Context, account, secret string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ring, err := k.keyring(true)
	if err != nil {
		return k.fail(account, "keyring", err)
	}
	// add_key replaces the payload of an existing key of the same
	// description in one step, so a reader never sees a torn value.
	if _, err := unix.AddKey("user", account, []byte(secret), ring); err != nil {
		return k.fail(account, "add", err)
	}
	return nil
}

func (k *keyctl) Delete(ctx context.Context, account string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, err := k.find(account)
	if err != nil {
		return err
	}
	ring, err := k.keyring(false)
	if err != nil {
		return k.fail(account, "keyring", err)
	}
	// Unlinked from its only keyring, the key is destroyed by the kernel's
	// garbage collector.
	if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
		return k.fail(account, "unlink", err)
	}
	return nil
}

// find returns the key id of account in our keyring.
func (k *keyctl) find(account string) (int, error) {
	ring, err := k.keyring(false)
	if err != nil {
		return 0, k.fail(account, "keyring", err)
	}
	id, err := unix.KeyctlSearch(ring, "user", account, 0)
	if err != nil {
		return 0, k.fail(account, "search", err)
	}
	return id, nil
}

// keyring finds our keyring under the session keyring and, when create is
// set, makes it. add_key of a keyring never updates an existing one (a second
// would displace the first), hence the search first and the lock.
func (k *keyctl) keyring(create bool) (int, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "keyring", k.ring, 0)
	if err == nil || !create || !keyMissing(err) {
		return id, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "keyring", k.ring, 0); err == nil {
		return id, nil
	}
	return unix.AddKey("keyring", k.ring, nil, unix.KEY_SPEC_SESSION_KEYRING)
}

func keyMissing(err error) bool {
	return errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED)
}

// fail maps a keyctl errno to our sentinels. EPERM and ENOSYS come from a
// seccomp filter (Docker's default profile blocks the key syscalls) or a
// kernel built without keys.
func (k *keyctl) fail(account, op string, err error) error {
	item := k.ring
	if account != "" {
		item += "/" + account
	}
	switch {
	case keyMissing(err):
		return fmt.Errorf("keyctl: %s: %w", item, ErrNotFound)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: keyctl: %s: kernel keyring blocked or not built in (%s: %v)", ErrUnavailable, item, op, err)
	case errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("keyctl: %s: %w: kernel key quota exceeded (see /proc/sys/kernel/keys/maxbytes)", item, ErrTooBig)
	default:
		return fmt.Errorf("keyctl: %s: %s: %w", item, op, err)
	}
}
