package broker

import (
	"context"
	"fmt"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// SetIdentity gives the vault an identity that was unlocked elsewhere (the
// broker daemon's memory, the kernel keyring cache), so that reading and
// writing need no backend. The identity must be the vault's own: its
// recipient must be Meta.Recipients[0]. The error never holds the identity.
func (v *Vault) SetIdentity(s string) error {
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		return fmt.Errorf("%w: not an age X25519 identity", ErrWrongKey)
	}
	if len(v.Meta.Recipients) == 0 || id.Recipient().String() != v.Meta.Recipients[0] {
		return xerr.WithHint(fmt.Errorf("%w: the identity belongs to another vault than %s", ErrWrongKey, v.Meta.ID),
			"check --hermes-home")
	}
	v.id = id
	return nil
}

// Identity returns the vault's identity (AGE-SECRET-KEY-1…), reading it from
// the backend unless it is already loaded. It is a secret: callers hand it
// to the broker daemon or the kernel keyring, never to a log or argv.
func (v *Vault) Identity(ctx context.Context) (string, error) {
	if v.id == nil && v.Backend == nil {
		return "", fmt.Errorf("%w: no identity and no backend to read it from", ErrKeyMissing)
	}
	id, err := v.identity(ctx)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// Unlocked reports whether the vault's identity is loaded, so that Read and
// Update need no backend.
func (v *Vault) Unlocked() bool { return v.id != nil }
