package backends

import (
	"context"
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// secretServiceLimit is ours, not the protocol's: gnome-keyring takes
// megabytes, but a vault key is 74 bytes and anything near this is a bug.
const secretServiceLimit = 256 << 10

func init() {
	register("secret-service", func(cfg Config) (*Backend, error) {
		check := func(ctx context.Context) error { return secretServiceUsable(ctx, cfg) }
		return Guard("secret-service", secretService{native: native{check: check}, cfg: cfg}, secretServiceLimit, cfg.Timeout), nil
	})
}

const (
	ssName       = "org.freedesktop.secrets"
	ssPath       = dbus.ObjectPath("/org/freedesktop/secrets")
	ssLoginPath  = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	ssAliasPath  = dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
	ssErrLocked  = "org.freedesktop.Secret.Error.IsLocked"
	ssCollection = "org.freedesktop.Secret.Collection"
)

// secretService writes and deletes through zalando/go-keyring, and reads
// on the private connection its usability check opened: the check (bus
// alive, Secret Service there, collection unlocked) then costs no second
// connection and handshake, which keeps `get` as quick as `secret-tool`.
// It reads what zalando writes: the item with attributes service and
// username in the login collection (else the default alias).
type secretService struct {
	native
	cfg Config
}

func (s secretService) Get(ctx context.Context, account string) (string, error) {
	conn, coll, err := openSecretService(ctx, s.cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	where := s.svc() + "/" + account
	var items []dbus.ObjectPath
	attrs := map[string]string{"username": account, "service": s.svc()}
	err = conn.Object(ssName, coll).CallWithContext(ctx, ssCollection+".SearchItems", 0, attrs).Store(&items)
	if err != nil && coll == ssLoginPath {
		// An activated service without a login collection: the alias.
		err = conn.Object(ssName, ssAliasPath).CallWithContext(ctx, ssCollection+".SearchItems", 0, attrs).Store(&items)
	}
	if err != nil {
		return "", fmt.Errorf("%s: search: %w", where, ssError(err))
	}
	if len(items) == 0 {
		return "", fmt.Errorf("%s: %w", where, ErrNotFound)
	}
	var ignored dbus.Variant
	var session dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).CallWithContext(ctx, "org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&ignored, &session); err != nil {
		return "", fmt.Errorf("%s: open a session: %w", where, ssError(err))
	}
	defer conn.Object(ssName, session).CallWithContext(ctx, "org.freedesktop.Secret.Session.Close", 0)
	var secret struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}
	if err := conn.Object(ssName, items[0]).CallWithContext(ctx, "org.freedesktop.Secret.Item.GetSecret", 0, session).Store(&secret); err != nil {
		return "", fmt.Errorf("%s: %w", where, ssError(err))
	}
	return string(secret.Value), nil
}

// ssError maps a Secret Service error to ours; a locked item must not
// wait for a prompt nobody sees.
func ssError(err error) error {
	var de dbus.Error
	if errors.As(err, &de) && de.Name == ssErrLocked {
		return fmt.Errorf("%w: the item is locked", ErrLocked)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// secretServiceUsable checks, without activating anything, that a Secret
// Service answers on the session bus and its collection is not locked (a
// locked one would need a prompt we cannot show).
func secretServiceUsable(ctx context.Context, cfg Config) error {
	conn, _, err := openSecretService(ctx, cfg)
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

// openSecretService opens a private connection to the session bus and
// checks the Secret Service as secretServiceUsable says. It returns the
// collection zalando uses (login, else the default alias); the caller
// closes the connection.
func openSecretService(ctx context.Context, cfg Config) (*dbus.Conn, dbus.ObjectPath, error) {
	conn, err := privateBus(ctx, cfg.Env)
	if err != nil {
		return nil, "", err
	}
	owned, activatable, err := nameState(ctx, conn, ssName)
	if err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("%w: session bus: %v", ErrUnavailable, err)
	}
	if !owned {
		if activatable {
			return conn, ssLoginPath, nil // started on first use, as on a desktop login
		}
		conn.Close()
		return nil, "", fmt.Errorf("%w: no Secret Service on the session bus (nothing provides %s)", ErrUnavailable, ssName)
	}
	// The first call gnome-keyring sees from a new client is on the service
	// path, as secret-tool's is: when it was the Locked check on a
	// collection path, gnome-keyring 42.1 now and then died of it
	// ("gkd_secret_service_get_pkcs11_session: assertion 'client' failed":
	// 2 of 9 loops of 400-2,500 gets; none in 10 loops of 2,500 since). Its
	// answer is not needed; a service that does not know the property
	// still goes on to the checks below. It costs about 1 ms a get.
	_ = conn.Object(ssName, ssPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.Secret.Service", "Collections").Err
	for _, path := range []dbus.ObjectPath{ssLoginPath, ssAliasPath} {
		v, err := conn.Object(ssName, path).GetProperty(ssCollection + ".Locked")
		if err != nil {
			continue
		}
		if locked, ok := v.Value().(bool); ok && locked {
			conn.Close()
			return nil, "", fmt.Errorf("%w: the Secret Service login keyring is locked", ErrLocked)
		}
		return conn, path, nil
	}
	conn.Close()
	return nil, "", fmt.Errorf("%w: the Secret Service has no default or login collection", ErrUnavailable)
}
