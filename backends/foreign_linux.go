package backends

import "context"

func foreignCheck(cfg Config) func(context.Context) error {
	return func(ctx context.Context) error { return secretServiceUsable(ctx, cfg) }
}
