package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKernelKeyringCache(t *testing.T) {
	var rnd [8]byte
	rand.Read(rnd[:])
	vid := "test" + hex.EncodeToString(rnd[:])
	if _, err := CachedIdentity(vid); !errors.Is(err, ErrNotCached) {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the kernel keyring is not usable in CI: %v", err)
			}
			t.Skipf("SKIPPED: the kernel keyring is not usable here: %v", err)
		}
		t.Fatalf("empty cache: %v", err)
	}
	const secret = "AGE-SECRET-KEY-1TESTTESTTESTTESTTESTTESTTESTTESTTESTTESTTESTTESTTESTTESTTEST"
	if err := CacheIdentity(vid, secret, time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ForgetCachedIdentity(vid) })
	got, err := CachedIdentity(vid)
	if err != nil || got != secret {
		t.Fatalf("cached: %q %v", got, err)
	}
	// Its permissions: nothing for group and other.
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", KeyringDescription(vid), 0)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		t.Fatal(err)
	}
	// "user;uid;gid;perm;description"
	var typ, perm, rest string
	if n, _ := sscanDescribe(desc, &typ, &perm, &rest); n != 3 || typ != "user" || perm[4:] != "0000" || rest != KeyringDescription(vid) {
		t.Fatalf("describe: %q", desc)
	}
	// Caching again replaces it.
	if err := CacheIdentity(vid, secret+"X", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := CachedIdentity(vid); got != secret+"X" {
		t.Fatalf("replaced: %q", got)
	}
	had, err := ForgetCachedIdentity(vid)
	if err != nil || !had {
		t.Fatalf("forget: %v %v", had, err)
	}
	if _, err := CachedIdentity(vid); !errors.Is(err, ErrNotCached) {
		t.Fatalf("after forget: %v", err)
	}
	if had, err := ForgetCachedIdentity(vid); err != nil || had {
		t.Fatalf("forget twice: %v %v", had, err)
	}
}

func TestKernelKeyringTimeout(t *testing.T) {
	var rnd [8]byte
	rand.Read(rnd[:])
	vid := "test" + hex.EncodeToString(rnd[:])
	if err := CacheIdentity(vid, "AGE-SECRET-KEY-1SHORTLIVED", time.Second); err != nil {
		if os.Getenv("CI") != "true" && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM)) {
			t.Skipf("SKIPPED: the kernel keyring is not usable here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { ForgetCachedIdentity(vid) })
	eventually(t, "the kernel forgets the key at its timeout", func() bool {
		_, err := CachedIdentity(vid)
		return errors.Is(err, ErrNotCached)
	})
}

// sscanDescribe splits KEYCTL_DESCRIBE output "type;uid;gid;perm;desc".
func sscanDescribe(s string, typ, perm, desc *string) (int, error) {
	parts := make([]string, 0, 5)
	start := 0
	for i := 0; i < len(s) && len(parts) < 4; i++ {
		if s[i] == ';' {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	if len(parts) != 5 {
		return 0, errors.New("short")
	}
	*typ, *perm, *desc = parts[0], parts[3], parts[4]
	return 3, nil
}
