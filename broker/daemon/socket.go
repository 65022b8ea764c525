package daemon

import (
	"errors"
	"path/filepath"
	"runtime"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// SocketName is the socket's file name inside its directory.
const SocketName = "broker.sock"

// ErrUnsupported is returned on platforms where the daemon cannot check its
// peers' uid (Windows, and Unix systems other than Linux and macOS).
var ErrUnsupported = errors.New("the broker daemon is not supported on " + runtime.GOOS)

// SocketPath is where the daemon of this user listens: $HERMES_KEYS_SOCKET,
// else $XDG_RUNTIME_DIR/hermes-keys/broker.sock, else
// <hermes root>/hermes-keys/broker.sock (next to the vault, in its 0700
// directory).
func SocketPath(env iox.Env, hermesRoot string) string {
	if p := env.Get("HERMES_KEYS_SOCKET"); p != "" {
		return p
	}
	if rt := env.Get("XDG_RUNTIME_DIR"); rt != "" && filepath.IsAbs(rt) {
		return filepath.Join(rt, "hermes-keys", SocketName)
	}
	return filepath.Join(hermesRoot, "hermes-keys", SocketName)
}
