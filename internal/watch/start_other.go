//go:build !linux

package watch

import (
	"context"
	"errors"
)

func start(ctx context.Context, dirs []string, opts Options, signal func()) (func(), error) {
	return nil, errors.New("no kernel watch on this platform")
}
