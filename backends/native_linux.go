package backends

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// secretServiceLimit is ours, not the protocol's: gnome-keyring takes
// megabytes, but a vault key is 74 bytes and anything near this is a bug.
const secretServiceLimit = 256 << 10

func init() {
	register("secret-service", func(cfg Config) (*Backend, error) {
		check := func(ctx context.Context) error { return secretServiceUsable(ctx, cfg) }
		return Guard("secret-service", native{check: check}, secretServiceLimit, cfg.Timeout), nil
	})
}

// secretServiceUsable checks, without activating anything, that a Secret
// Service answers on the session bus and its default collection is not
// locked (a locked one would need a prompt we cannot show).
func secretServiceUsable(ctx context.Context, cfg Config) error {
	conn, err := privateBus(ctx, cfg.Env)
	if err != nil {
		return err
	}
	defer conn.Close()
	const name = "org.freedesktop.secrets"
	owned, activatable, err := nameState(ctx, conn, name)
	if err != nil {
		return fmt.Errorf("%w: session bus: %v", ErrUnavailable, err)
	}
	if !owned {
		if activatable {
			return nil // started on first use, as on a desktop login
		}
		return fmt.Errorf("%w: no Secret Service on the session bus (nothing provides %s)", ErrUnavailable, name)
	}
	for _, path := range []dbus.ObjectPath{"/org/freedesktop/secrets/aliases/default", "/org/freedesktop/secrets/collection/login"} {
		v, err := conn.Object(name, path).GetProperty("org.freedesktop.Secret.Collection.Locked")
		if err != nil {
			continue
		}
		if locked, ok := v.Value().(bool); ok && locked {
			return fmt.Errorf("%w: the Secret Service login keyring is locked", ErrLocked)
		}
		return nil
	}
	return fmt.Errorf("%w: the Secret Service has no default or login collection", ErrUnavailable)
}
