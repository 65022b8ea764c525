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
// backend.
func Auto(ctx context.Context, cfg Config) (*Backend, error) {
	var reasons []string
	for _, name := range AutoOrder(cfg.goos()) {
		b, err := Open(name, cfg)
		if err == nil {
			err = b.Probe(ctx)
			if err == nil {
				return b, nil
			}
		}
		reasons = append(reasons, fmt.Sprintf("%s: %s", name, trimSentinel(err)))
	}
	err := fmt.Errorf("%w: %s", ErrNoKeychain, strings.Join(reasons, "; "))
	return nil, xerr.WithHint(err, "on a server, use a passphrase-protected file: --backend file (see `hermes-keys backends`)")
}

// trimSentinel drops the repeated "backend unavailable: " prefix so a list
// of reasons reads cleanly.
func trimSentinel(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, ErrUnavailable.Error()+": ")
}
