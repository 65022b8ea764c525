package backends

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// busDialTimeout bounds the liveness check of the session bus socket. A live
// local socket answers connect() in microseconds.
const busDialTimeout = 250 * time.Millisecond

// busAddress finds the session bus address the way godbus does, minus the
// autolaunch. It does not connect; privateBus's dial (or dialCheck) tells
// whether something listens, in milliseconds whatever the state of the bus.
func busAddress(env iox.Env) (string, error) {
	addr := env.Get("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" || addr == "autolaunch:" {
		rt := env.Get("XDG_RUNTIME_DIR")
		if rt == "" {
			rt = fmt.Sprintf("/run/user/%d", os.Getuid())
		}
		p := filepath.Join(rt, "bus")
		if fi, err := os.Stat(p); err != nil || fi.Mode()&os.ModeSocket == 0 {
			return "", fmt.Errorf("%w (DBUS_SESSION_BUS_ADDRESS unset)", ErrNoBus)
		}
		addr = "unix:path=" + p
	}
	return addr, nil
}

// singleUnixPath: the address is one unix transport to a path or abstract
// name (guid and other keys aside), which dbus.Dial reaches, or fails to,
// at once with nothing else to try.
func singleUnixPath(addr string) bool {
	params, ok := strings.CutPrefix(addr, "unix:")
	if !ok || strings.Contains(addr, ";") {
		return false
	}
	for _, p := range strings.Split(params, ",") {
		if strings.HasPrefix(p, "path=") || strings.HasPrefix(p, "abstract=") {
			return true
		}
	}
	return false
}

// dialCheck connects to the first unix transport of a D-Bus address.
func dialCheck(addr string) error {
	var lastErr error = errors.New("no unix transport in bus address")
	for _, tr := range strings.Split(addr, ";") {
		kind, params, ok := strings.Cut(tr, ":")
		if !ok || kind != "unix" {
			continue
		}
		kv := map[string]string{}
		for _, p := range strings.Split(params, ",") {
			if k, v, ok := strings.Cut(p, "="); ok {
				kv[k] = unescapeBus(v)
			}
		}
		var sock string
		switch {
		case kv["path"] != "":
			sock = kv["path"]
		case kv["abstract"] != "":
			sock = "@" + kv["abstract"]
		default:
			continue
		}
		c, err := net.DialTimeout("unix", sock, busDialTimeout)
		if err != nil {
			lastErr = err
			continue
		}
		c.Close()
		return nil
	}
	return lastErr
}

func unescapeBus(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// privateBus opens a private, authenticated connection to the session bus,
// for probes; the caller closes it.
func privateBus(ctx context.Context, env iox.Env) (*dbus.Conn, error) {
	// One connection per call (issue 12): for a plain unix:path address the
	// dial itself is the check that something listens, and a failed dial
	// is then classified as no bus when nothing listens.
	addr, err := busAddress(env)
	if err != nil {
		return nil, err
	}
	if !singleUnixPath(addr) {
		if err := dialCheck(addr); err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrNoBus, err)
		}
	}
	conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
	if err != nil {
		if cerr := dialCheck(addr); cerr != nil {
			return nil, fmt.Errorf("%w (%v)", ErrNoBus, cerr)
		}
		return nil, fmt.Errorf("%w: dial session bus: %v", ErrBusBroken, err)
	}
	if err := conn.Auth(nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: session bus auth: %v", ErrBusBroken, err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: session bus hello: %v", ErrBusBroken, err)
	}
	return conn, nil
}

// nameState reports whether a bus name has an owner now, or could be
// activated on demand.
func nameState(ctx context.Context, conn *dbus.Conn, name string) (owned, activatable bool, err error) {
	bus := conn.BusObject()
	if err = bus.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&owned); err != nil {
		return false, false, err
	}
	if owned {
		return true, false, nil
	}
	var names []string
	if err = bus.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		return false, false, err
	}
	for _, n := range names {
		if n == name {
			return false, true, nil
		}
	}
	return false, false, nil
}
