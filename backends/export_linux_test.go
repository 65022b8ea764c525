package backends

import (
	"context"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// For backends_test: the Secret Service's two read paths, side by side.

// ErrSlowPath is errSlowPath.
var ErrSlowPath = errSlowPath

// SecretServiceQuickGet is the pipelined read.
func SecretServiceQuickGet(ctx context.Context, env iox.Env, account string) (string, error) {
	return ssQuickGet(ctx, env, Service, account)
}

// SecretServiceGeneralGet is the read through godbus's connection.
func SecretServiceGeneralGet(ctx context.Context, env iox.Env, account string) (string, error) {
	return secretService{cfg: Config{Env: env}}.generalGet(ctx, account)
}
