package daemon

import "errors"

// The kernel keyring cache: without a daemon, `hermes-keys unlock` keeps the
// vault identity in the Linux kernel's user keyring (@u) under
// KeyringDescription(vault id), with a timeout after which the kernel
// forgets it; every hermes-keys process of the user then opens the vault
// without its backend. Other platforms have no such keyring.

// ErrNoKeyring means this platform has no kernel keyring to cache in.
var ErrNoKeyring = errors.New("no kernel keyring on this platform")

// ErrNotCached means the keyring holds no identity for the vault.
var ErrNotCached = errors.New("no cached vault key in the kernel keyring")

// KeyringDescription is the description of the cached key of a vault.
func KeyringDescription(vaultID string) string { return "hermes-keys:vault:" + vaultID }
