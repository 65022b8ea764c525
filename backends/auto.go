package backends

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// ErrNoKeychain means auto found no usable platform keychain. The file
// backend is never chosen silently in its place.
var ErrNoKeychain = errors.New("no keychain")

// ErrNoBus means there is no usable D-Bus session bus. We never start one:
// godbus would run dbus-launch, which leaks a daemon per process.
var ErrNoBus = fmt.Errorf("%w: %s", ErrUnavailable, noBusReason)

// ErrBusBroken means a session bus was there but failed the connection
// handshake (dial, authentication, Hello).
var ErrBusBroken = fmt.Errorf("%w: the D-Bus session bus failed", ErrUnavailable)

// noBusReason is what every D-Bus keychain says when there is no session
// bus (ErrNoBus on Linux, without its "backend unavailable: " prefix).
const noBusReason = "no D-Bus session bus"

// NoBusMessage is exactly what auto says when no keychain is usable because
// there is no D-Bus session bus (a server, ssh, a container).
const NoBusMessage = "no keychain: " + noBusReason

// NoBusHint is the remedy given with NoBusMessage.
const NoBusHint = "on a server, keep the vault key in a passphrase-protected file: --backend file (docs/servers.md); a desktop keychain needs a D-Bus session bus, which hermes-keys never starts"

// AutoOrder is the fixed order in which auto tries the platform keychains.
// keyctl and pass are never picked by auto: one forgets at reboot, the other
// needs a GPG setup the user chose deliberately.
func AutoOrder(goos string) []string {
	switch goos {
	case "darwin":
		return []string{"keychain"}
	case "windows":
		return []string{"wincred"}
	default:
		return []string{"secret-service", "kwallet"}
	}
}

// Auto returns the first usable keychain of AutoOrder. When none is usable
// it returns ErrNoKeychain with each reason, and a hint naming the file
// backend. When the reason is the same for all of them, that there is no
// D-Bus session bus, the error says exactly NoBusMessage (the bus detail
// goes to the hint) and also wraps the bus error.
func Auto(ctx context.Context, cfg Config) (*Backend, error) {
	var reasons []string
	var errs []error
	for _, name := range AutoOrder(cfg.goos()) {
		b, err := Open(name, cfg)
		if err == nil {
			err = b.Probe(ctx)
			if err == nil {
				return b, nil
			}
		}
		errs = append(errs, err)
		reasons = append(reasons, fmt.Sprintf("%s: %s", name, trimSentinel(err)))
	}
	if len(errs) > 0 && allNoBus(errs) {
		hint := NoBusHint
		if d := busDetail(errs[0]); d != "" {
			hint = "no session bus here (" + d + "); " + hint
		}
		return nil, xerr.WithHint(&multiErr{msg: NoBusMessage, errs: []error{ErrNoKeychain, errs[0]}}, hint)
	}
	err := fmt.Errorf("%w: %s", ErrNoKeychain, strings.Join(reasons, "; "))
	return nil, xerr.WithHint(err, "on a server, use a passphrase-protected file: --backend file (see `hermes-keys backends`)")
}

// IsNoBus reports whether err says there is no D-Bus session bus: nothing
// at DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus, or nothing listening
// there. It works on every platform (ErrNoBus exists on Linux only).
func IsNoBus(err error) bool { return errors.Is(err, ErrNoBus) }

// SessionBus reports, for doctor, whether a D-Bus session bus answers. It
// asks through the secret-service backend's probe, which checks the bus
// before anything else and never starts one, within cfg.Timeout. used is
// false where no keychain of this platform talks D-Bus (macOS, Windows).
// err is nil when the bus answered, whatever is on it; otherwise it says
// why not: IsNoBus, ErrTimeout (the bus accepted and then hung), or a
// failed handshake.
func SessionBus(ctx context.Context, cfg Config) (used bool, err error) {
	b, oerr := Open("secret-service", cfg)
	if oerr != nil {
		return false, nil
	}
	err = b.Probe(ctx)
	switch {
	case err == nil:
		return true, nil
	case IsNoBus(err), errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return true, err
	}
	// The bus itself failed the handshake, as opposed to answering that
	// no Secret Service is on it.
	if errors.Is(err, ErrBusBroken) {
		return true, err
	}
	return true, nil
}

// allNoBus reports whether every error is the missing session bus.
func allNoBus(errs []error) bool {
	for _, e := range errs {
		if !IsNoBus(e) {
			return false
		}
	}
	return true
}

// busDetail is the parenthesised detail after "no D-Bus session bus", such
// as "DBUS_SESSION_BUS_ADDRESS unset" or the dial error; "" if none.
func busDetail(err error) string {
	s := err.Error()
	i := strings.Index(s, noBusReason+" (")
	if i < 0 || !strings.HasSuffix(s, ")") {
		return ""
	}
	return s[i+len(noBusReason)+2 : len(s)-1]
}

// multiErr has its own message and wraps several errors, for errors.Is.
type multiErr struct {
	msg  string
	errs []error
}

func (m *multiErr) Error() string   { return m.msg }
func (m *multiErr) Unwrap() []error { return m.errs }

// trimSentinel drops the repeated "backend unavailable: " prefix so a list
// of reasons reads cleanly.
func trimSentinel(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, ErrUnavailable.Error()+": ")
}
