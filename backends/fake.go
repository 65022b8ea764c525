package backends

import (
	"context"
	"fmt"
	"sync"
)

// Fake is an in-memory Holder for unit tests. It never stands in for a real
// backend that the machine can run.
type Fake struct {
	mu    sync.Mutex
	items map[string]string
	// Block, when non-nil, makes every call wait on it (or on ctx), to test
	// deadlines.
	Block chan struct{}
	// Err, when set, is returned by every call.
	Err error
}

// NewFake returns a guarded in-memory backend named "fake".
func NewFake(limit int) (*Backend, *Fake) {
	f := &Fake{items: map[string]string{}}
	return Guard("fake", f, limit, 0), f
}

func (f *Fake) wait(ctx context.Context) error {
	if f.Block != nil {
		select {
		case <-f.Block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.Err
}

func (f *Fake) Get(ctx context.Context, account string) (string, error) {
	if err := f.wait(ctx); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.items[account]
	if !ok {
		return "", fmt.Errorf("fake/%s: %w", account, ErrNotFound)
	}
	return v, nil
}

func (f *Fake) Set(ctx context.Context, account, secret string) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[account] = secret
	return nil
}

func (f *Fake) Delete(ctx context.Context, account string) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[account]; !ok {
		return fmt.Errorf("fake/%s: %w", account, ErrNotFound)
	}
	delete(f.items, account)
	return nil
}

func (f *Fake) Probe(ctx context.Context) error { return f.wait(ctx) }

// Len reports how many items the fake holds.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.items)
}
