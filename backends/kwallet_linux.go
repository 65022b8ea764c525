package backends

// KWallet is for KDE desktops whose kwalletd does not offer the Secret
// Service API (before KDE Frameworks 5.97, or with it switched off). We talk
// to kwalletd's own D-Bus interface directly, on a private connection that
// exists only for one call: 99designs/keyring, the usual Go binding, dials
// the session bus in its package init, in every process that links it.
//
// Nothing here dials before privateBus has found a live bus, so a
// server without D-Bus is answered in milliseconds and nothing autolaunches.
//
// There is no kwalletd on CI (it needs a KDE session to create a wallet);
// the tests run the conformance suite against a fake kwalletd that speaks
// the same interface on a private bus, and against a real one only when
// HERMES_KEYS_REAL_KWALLET=1.

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// kwalletLimit is ours: entries are QStrings with no documented limit, and
// a vault key is 74 bytes.
const kwalletLimit = 64 << 10

const (
	kwalletIface = "org.kde.KWallet"
	kwalletAppID = Service
)

// kwalletServices in order of preference: Plasma 6, then 5.
var kwalletServices = []struct {
	name string
	path dbus.ObjectPath
}{
	{"org.kde.kwalletd6", "/modules/kwalletd6"},
	{"org.kde.kwalletd5", "/modules/kwalletd5"},
}

func init() {
	register("kwallet", func(cfg Config) (*Backend, error) {
		return Guard("kwallet", &kwallet{env: cfg.Env, folder: cfg.namespace()}, kwalletLimit, cfg.Timeout), nil
	})
}

type kwallet struct {
	env    iox.Env
	folder string
}

// Probe checks that a kwalletd runs or can be started, without opening a
// wallet: opening may put up an unlock prompt.
func (k *kwallet) Probe(ctx context.Context) error {
	conn, err := privateBus(ctx, k.env)
	if err != nil {
		return err
	}
	defer conn.Close()
	i, owned, err := kwalletService(ctx, conn)
	if err != nil {
		return err
	}
	if !owned {
		return nil // activated on first use
	}
	s := kwalletServices[i]
	var enabled bool
	if err := conn.Object(s.name, s.path).CallWithContext(ctx, kwalletIface+".isEnabled", 0).Store(&enabled); err != nil {
		return fmt.Errorf("%w: kwallet: isEnabled: %v", ErrUnavailable, err)
	}
	if !enabled {
		return fmt.Errorf("%w: kwallet is disabled in the KDE settings", ErrUnavailable)
	}
	return nil
}

func (k *kwallet) Get(ctx context.Context, account string) (string, error) {
	var secret string
	err := k.do(ctx, account, func(w *walletCall) error {
		if err := w.mustExist(); err != nil {
			return err
		}
		return w.call("readPassword", &secret, w.handle, k.folder, account, kwalletAppID)
	})
	return secret, err
}

func (k *kwallet) Set(ctx context.Context, account, secret string) error {
	// D-Bus strings are UTF-8 without NUL; refuse rather than mangle.
	if !utf8.ValidString(secret) || strings.ContainsRune(secret, 0) {
		return fmt.Errorf("kwallet: %s/%s: value is not text (kwallet stores UTF-8 without NUL)", k.folder, account)
	}
	return k.do(ctx, account, func(w *walletCall) error {
		var has bool
		if err := w.call("hasFolder", &has, w.handle, k.folder, kwalletAppID); err != nil {
			return err
		}
		if !has {
			var ok bool
			if err := w.call("createFolder", &ok, w.handle, k.folder, kwalletAppID); err != nil {
				return err
			}
		}
		var rc int32
		if err := w.call("writePassword", &rc, w.handle, k.folder, account, secret, kwalletAppID); err != nil {
			return err
		}
		if rc != 0 {
			return fmt.Errorf("kwallet: %s/%s: writePassword returned %d", k.folder, account, rc)
		}
		return nil
	})
}

func (k *kwallet) Delete(ctx context.Context, account string) error {
	return k.do(ctx, account, func(w *walletCall) error {
		if err := w.mustExist(); err != nil {
			return err
		}
		var rc int32
		if err := w.call("removeEntry", &rc, w.handle, k.folder, account, kwalletAppID); err != nil {
			return err
		}
		if rc != 0 {
			return fmt.Errorf("kwallet: %s/%s: removeEntry returned %d", k.folder, account, rc)
		}
		return nil
	})
}

// walletCall is one open wallet on one private connection.
type walletCall struct {
	ctx     context.Context
	obj     dbus.BusObject
	handle  int32
	folder  string
	account string
}

func (w *walletCall) call(method string, out any, args ...any) error {
	if err := w.obj.CallWithContext(w.ctx, kwalletIface+"."+method, 0, args...).Store(out); err != nil {
		return fmt.Errorf("kwallet: %s/%s: %s: %w", w.folder, w.account, method, err)
	}
	return nil
}

func (w *walletCall) mustExist() error {
	var has bool
	if err := w.call("hasEntry", &has, w.handle, w.folder, w.account, kwalletAppID); err != nil {
		return err
	}
	if !has {
		return fmt.Errorf("kwallet: %s/%s: %w", w.folder, w.account, ErrNotFound)
	}
	return nil
}

// do opens the network wallet (the one KDE apps share) on a private
// connection, runs f and closes both. The handle belongs to this connection;
// kwalletd forgets it when the connection goes.
func (k *kwallet) do(ctx context.Context, account string, f func(*walletCall) error) error {
	conn, err := privateBus(ctx, k.env)
	if err != nil {
		return err
	}
	defer conn.Close()
	i, _, err := kwalletService(ctx, conn)
	if err != nil {
		return err
	}
	s := kwalletServices[i]
	w := &walletCall{ctx: ctx, obj: conn.Object(s.name, s.path), folder: k.folder, account: account}
	var wallet string
	if err := w.call("networkWallet", &wallet); err != nil {
		return err
	}
	// wId 0: no parent window for the unlock prompt.
	if err := w.call("open", &w.handle, wallet, int64(0), kwalletAppID); err != nil {
		return err
	}
	if w.handle < 0 {
		return fmt.Errorf("%w: kwallet: wallet %q did not open (locked and the prompt was refused, or disabled)", ErrLocked, wallet)
	}
	defer w.obj.CallWithContext(ctx, kwalletIface+".close", 0, w.handle, false, kwalletAppID)
	return f(w)
}

// kwalletService picks the first kwalletd that runs, else the first that
// D-Bus can start.
func kwalletService(ctx context.Context, conn *dbus.Conn) (i int, owned bool, err error) {
	first := -1
	for i, s := range kwalletServices {
		owned, activatable, err := nameState(ctx, conn, s.name)
		if err != nil {
			return 0, false, fmt.Errorf("%w: kwallet: session bus: %v", ErrUnavailable, err)
		}
		if owned {
			return i, true, nil
		}
		if activatable && first < 0 {
			first = i
		}
	}
	if first < 0 {
		return 0, false, fmt.Errorf("%w: no KWallet on the session bus (nothing provides org.kde.kwalletd6 or org.kde.kwalletd5)", ErrUnavailable)
	}
	return first, false, nil
}
