package backends

import (
	"context"
	"errors"
	"fmt"

	zk "github.com/zalando/go-keyring"
)

// native adapts zalando/go-keyring, the platform keychain. It has no context
// API; Guard supplies the deadline and check runs first so a missing D-Bus
// is answered before zalando could try to autolaunch one.
type native struct {
	check func(ctx context.Context) error
	// service overrides Service, for reading other programs' items.
	service string
}

func (n native) svc() string {
	if n.service != "" {
		return n.service
	}
	return Service
}

func (n native) guard(ctx context.Context) error {
	if n.check == nil {
		return nil
	}
	return n.check(ctx)
}

func (n native) Get(ctx context.Context, account string) (string, error) {
	if err := n.guard(ctx); err != nil {
		return "", err
	}
	s, err := zk.Get(n.svc(), account)
	return s, mapNative(err, account)
}

func (n native) Set(ctx context.Context, account, secret string) error {
	if err := n.guard(ctx); err != nil {
		return err
	}
	return mapNative(zk.Set(n.svc(), account, secret), account)
}

func (n native) Delete(ctx context.Context, account string) error {
	if err := n.guard(ctx); err != nil {
		return err
	}
	return mapNative(zk.Delete(n.svc(), account), account)
}

func (n native) Probe(ctx context.Context) error { return n.guard(ctx) }

func mapNative(err error, account string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNotFound):
		return fmt.Errorf("%s/%s: %w", Service, account, ErrNotFound)
	case errors.Is(err, zk.ErrSetDataTooBig):
		return fmt.Errorf("%s/%s: %w", Service, account, ErrTooBig)
	default:
		return fmt.Errorf("%s/%s: %w", Service, account, err)
	}
}
