package backends

import (
	"context"
	"fmt"
)

// ReadForeign reads another program's item (the Codex CLI's, say) from the
// platform keychain, read-only, under the same deadline and D-Bus checks as
// our own items.
func ReadForeign(ctx context.Context, cfg Config, service, account string) (string, error) {
	b := Guard("keychain", native{check: foreignCheck(cfg), service: service}, 0, cfg.Timeout)
	s, err := b.Get(ctx, account)
	if err != nil {
		return "", fmt.Errorf("%s item: %w", service, err)
	}
	return s, nil
}
