package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inBareSession runs f on a thread of its own that has joined a fresh,
// anonymous session keyring which does not link the user keyring: what
// `keyctl session -` gives a shell. Session keyrings belong to a thread's
// credentials, so the rest of the test process is not affected, and the
// thread is thrown away afterwards (it exits still locked).
func inBareSession(t *testing.T, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if _, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); e != 0 {
			done <- fmt.Errorf("join an anonymous session keyring: %w", e)
			return
		}
		// It must not reach @u: otherwise this is a login session, not the
		// bare one under test.
		u, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
		if err != nil {
			done <- fmt.Errorf("user keyring: %w", err)
			return
		}
		if _, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "keyring", fmt.Sprintf("_uid.%d", os.Getuid()), 0); err == nil {
			done <- fmt.Errorf("the fresh session keyring links the user keyring %d", u)
			return
		}
		done <- f()
	}()
	if err := <-done; err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			if os.Getenv("CI") == "true" || os.Getenv("HERMES_KEYS_REAL_KEYCTL") == "1" {
				t.Fatalf("the kernel keyring is not usable: %v", err)
			}
			t.Skipf("SKIPPED: the kernel keyring is not usable here: %v", err)
		}
		t.Fatal(err)
	}
}

// TestKernelKeyringCacheBareSession: unlock's cache works from a session
// keyring that does not link @u (it failed there with "setperm: permission
// denied" when the key was made in @u), is found from any other session of
// the user through @u, and lock removes it from everywhere.
func TestKernelKeyringCacheBareSession(t *testing.T) {
	var rnd [8]byte
	rand.Read(rnd[:])
	vid := "test" + hex.EncodeToString(rnd[:])
	const secret = "AGE-SECRET-KEY-1BARESESSIONCANARYBARESESSIONCANARYBARESESSIONCANARY"
	t.Cleanup(func() { ForgetCachedIdentity(vid) })
	inBareSession(t, func() error {
		if err := CacheIdentity(vid, secret, time.Hour); err != nil {
			return err
		}
		if got, err := CachedIdentity(vid); err != nil || got != secret {
			return fmt.Errorf("read back in the bare session: %v (right value: %v)", err, got == secret)
		}
		// In @u, and not left behind in the session keyring.
		if _, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KeyringDescription(vid), 0); err != nil {
			return fmt.Errorf("not in @u: %w", err)
		}
		if _, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", KeyringDescription(vid), 0); err == nil {
			return errors.New("the key was left linked in the session keyring")
		}
		// Replaced by a second unlock, with a timeout set.
		if err := CacheIdentity(vid, secret+"2", time.Hour); err != nil {
			return fmt.Errorf("cache again: %w", err)
		}
		if got, _ := CachedIdentity(vid); got != secret+"2" {
			return errors.New("a second unlock did not replace the cached key")
		}
		return nil
	})
	// Another session of the user (this test's own thread) sees it.
	if got, err := CachedIdentity(vid); err != nil || got != secret+"2" {
		t.Fatalf("read from another session: %v (right value: %v)", err, got == secret+"2")
	}
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KeyringDescription(vid), 0)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		t.Fatal(err)
	}
	var typ, perm, rest string
	if n, _ := sscanDescribe(desc, &typ, &perm, &rest); n != 3 || perm[4:] != "0000" {
		t.Fatalf("group or other may use the key: %q", desc)
	}
	// lock, from a bare session again, removes it everywhere.
	inBareSession(t, func() error {
		had, err := ForgetCachedIdentity(vid)
		if err != nil || !had {
			return fmt.Errorf("forget: %v %v", had, err)
		}
		return nil
	})
	if _, err := CachedIdentity(vid); !errors.Is(err, ErrNotCached) {
		t.Fatalf("after forget: %v", err)
	}
	if _, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, make([]byte, 256), 0); err == nil {
		t.Fatal("the key can still be read by its id after forget")
	}
}
