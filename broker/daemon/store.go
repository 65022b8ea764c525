package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
)

// Store is a vault read and written through the daemon: the process that
// uses it (a `hermes-keys run`) never holds the vault key. It has the
// methods migrate.Root needs (ID, Read, Update), and is safe for
// concurrent use.
type Store struct {
	// Path is the socket; every (re)connection is checked as Dial does.
	Path string
	// VaultID is the vault this store must reach (Client.Vault).
	VaultID string
	// Timeout bounds each call (a seal waits for the vault lock).
	Timeout time.Duration
	// Retries bounds how often Update re-reads and re-applies its change
	// after another writer changed one of its records; 0 means 8.
	Retries int

	mu sync.Mutex
	c  *Client
}

// ErrConflict means Update kept losing to other writers of its records.
var ErrConflict = errors.New("the vault kept changing under the seal")

// OpenStore connects to the daemon at path and reads the vault once, so
// that a locked daemon, or one of another vault, is known at once.
func OpenStore(ctx context.Context, path, vaultID string, timeout time.Duration) (*Store, *broker.Contents, error) {
	s := &Store{Path: path, VaultID: vaultID, Timeout: timeout}
	c, err := s.Read(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, c, nil
}

// ID is the vault's id.
func (s *Store) ID() string { return s.VaultID }

// Close closes the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}

// call runs f on the connection, dialling again once when it broke (the
// daemon closes a connection idle longer than its read timeout, and run
// may sit idle for hours). An answer of the daemon's (*Error) is final.
func (s *Store) call(ctx context.Context, f func(c *Client) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for attempt := range 2 {
		if s.c == nil {
			c, derr := DialTimeout(s.Path, DefaultDialTimeout)
			if derr != nil {
				return derr
			}
			c.Vault, c.Timeout = s.VaultID, s.Timeout
			if c.Timeout <= 0 {
				c.Timeout = DefaultCallTimeout
			}
			s.c = c
		}
		err = f(s.c)
		var de *Error
		if err == nil || errors.As(err, &de) && s.c.broken == nil || ctx.Err() != nil || attempt == 1 {
			return err
		}
		s.c.Close()
		s.c = nil
	}
	return err
}

// Read returns the vault's records from the daemon.
func (s *Store) Read(ctx context.Context) (*broker.Contents, error) {
	var snap *Snapshot
	err := s.call(ctx, func(c *Client) (err error) {
		snap, err = c.Open(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return contentsOf(snap), nil
}

// seal sends changes. A seal whose connection broke after it was sent may
// have been applied: it is not sent again blindly; the retry of Update
// sees the records as they are and sends only what still differs.
func (s *Store) seal(ctx context.Context, changes []Change) (*Snapshot, error) {
	var snap *Snapshot
	sent := false
	err := s.call(ctx, func(c *Client) (err error) {
		if sent {
			return ErrResend
		}
		sent = true
		snap, err = c.Seal(ctx, changes)
		return err
	})
	return snap, err
}

// ErrResend means a seal's connection broke after it was sent; Update
// reads the vault again and retries what is left.
var ErrResend = errors.New("the broker daemon connection broke during a seal")

// Update is an optimistic read-modify-write: it reads the records, applies
// change to a copy, and sends the records change put or deleted, each with
// the generation it read. When another writer changed one of them
// meanwhile, nothing is written and it starts over with a fresh read.
func (s *Store) Update(ctx context.Context, change func(c *broker.Contents) (bool, error)) (*broker.Contents, error) {
	tries := s.Retries
	if tries <= 0 {
		tries = 8
	}
	for range tries {
		before, err := s.Read(ctx)
		if err != nil {
			return nil, err
		}
		work := cloneContents(before)
		changed, err := change(work)
		if err != nil || !changed {
			return work, err
		}
		changes := diff(before, work)
		if len(changes) == 0 {
			return work, nil
		}
		snap, err := s.seal(ctx, changes)
		if errors.Is(err, broker.ErrGeneration) || errors.Is(err, ErrResend) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return contentsOf(snap), nil
	}
	return nil, fmt.Errorf("%w (%d tries)", ErrConflict, tries)
}

func contentsOf(snap *Snapshot) *broker.Contents {
	c := &broker.Contents{VaultID: snap.VaultID, Generation: snap.Generation, Records: snap.Records}
	if c.Records == nil {
		c.Records = map[string]*broker.Record{}
	}
	return c
}

// cloneContents copies c deeply enough that change cannot touch before.
func cloneContents(c *broker.Contents) *broker.Contents {
	out := *c
	out.Records = make(map[string]*broker.Record, len(c.Records))
	for k, r := range c.Records {
		cp := *r
		cp.Value = bytes.Clone(r.Value)
		cp.Block = bytes.Clone(r.Block)
		out.Records[k] = &cp
	}
	return &out
}

// diff lists the records that differ between before and after, sorted by
// key, each expecting the generation it had before.
func diff(before, after *broker.Contents) []Change {
	keys := map[string]bool{}
	for k := range maps.Keys(before.Records) {
		keys[k] = true
	}
	for k := range maps.Keys(after.Records) {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		b, a := before.Records[k], after.Records[k]
		var expect uint64
		if b != nil {
			expect = b.Generation
		}
		switch {
		case a == nil && b == nil:
		case a == nil:
			out = append(out, Change{Key: k, Expect: expect})
		case b == nil || !sameRecord(a, b):
			out = append(out, Change{Key: k, Expect: expect, Record: a})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func sameRecord(a, b *broker.Record) bool {
	return a.Kind == b.Kind && a.Generation == b.Generation && a.UpdatedAt.Equal(b.UpdatedAt) &&
		bytes.Equal(a.Value, b.Value) && bytes.Equal(a.Block, b.Block)
}
