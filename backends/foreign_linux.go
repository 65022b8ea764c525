package backends

import "context"

const foreignName = "secret-service"

// foreignHolder reads a Secret Service item with attributes service and
// username, which is how the Rust keyring crate (Codex) names it; the
// D-Bus check runs first so a missing bus is answered at once.
func foreignHolder(cfg Config, service string) Holder {
	return native{check: func(ctx context.Context) error { return secretServiceUsable(ctx, cfg) }, service: service}
}
