//go:build !linux

package daemon

import "time"

// KeyringSupported reports whether CacheIdentity can work here.
const KeyringSupported = false

// CacheIdentity fails: no kernel keyring on this platform.
func CacheIdentity(vaultID, identity string, ttl time.Duration) error { return ErrNoKeyring }

// CachedIdentity finds nothing: no kernel keyring on this platform.
func CachedIdentity(vaultID string) (string, error) { return "", ErrNotCached }

// ForgetCachedIdentity has nothing to forget on this platform.
func ForgetCachedIdentity(vaultID string) (bool, error) { return false, nil }
