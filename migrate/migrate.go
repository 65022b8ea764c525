// Package migrate performs the one-time moves between Hermes's plaintext
// store and the vault: seal (migrate, seal) and unseal (unmigrate).
//
// Every secret document is changed under its own Hermes lock, and the vault
// write (read back and verified) happens before the plaintext is replaced
// by its skeleton, so a crash at any point leaves each secret in the file,
// in the vault, or in both; never in neither.
package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// Item is one sealed (or, in a plan, sealable) block. It never holds a value.
type Item struct {
	Home    string `json:"home"`
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	Secrets int    `json:"secret_fields"`
	Bytes   int    `json:"secret_bytes"`
	Expires string `json:"expires,omitempty"`
}

// Report says what a seal or unseal did.
type Report struct {
	Sealed   []Item        `json:"sealed"`
	Restored []string      `json:"restored,omitempty"`
	Copies   []hermes.Copy `json:"plaintext_copies,omitempty"`
}

// Options tune Seal.
type Options struct {
	DryRun bool
	// Env also moves the secret keys of each home's .env.
	Env bool
	// Keep leaves the plaintext in place (a live run uses it).
	Keep bool
	Now  func() time.Time
}

func scopeOf(h hermes.Home) string { return broker.Scope(h.Profile) }

func itemOf(h hermes.Home, b hermes.Block) Item {
	n, size := 0, 0
	for _, s := range b.Secrets {
		n++
		size += s.Size
	}
	// The count is the one status shows for the sealed record.
	if b.Value != nil {
		n = hermes.RecordSecretFields(string(b.Kind), b.Value)
	}
	it := Item{Home: h.Dir, Key: scopeOf(h) + b.Key, Kind: string(b.Kind), Secrets: n, Bytes: size}
	if !b.Expires.IsZero() {
		it.Expires = b.Expires.UTC().Format(time.RFC3339)
	}
	return it
}

// putBlocks stores blocks in the vault under scope: the block's value as the
// record value, its placement (key, kind, index, group) beside it.
func putBlocks(c *broker.Contents, scope string, blocks []hermes.Block, now time.Time) bool {
	changed := false
	for _, b := range blocks {
		// Compact, so that the same block read from a compact or an
		// indented file is the same record (no spurious generation).
		val := b.Value
		var buf bytes.Buffer
		if json.Compact(&buf, val) == nil {
			val = buf.Bytes()
		}
		if c.Put(scope+b.Key, string(b.Kind), val, now) {
			changed = true
		}
		meta := blockMeta(b)
		if r := c.Records[scope+b.Key]; !bytes.Equal(r.Block, meta) {
			r.Block = meta
			changed = true
		}
	}
	return changed
}

// putEnv stores .env's sealed keys as env records (a JSON string each).
func putEnv(c *broker.Contents, scope string, blocks []hermes.Block, now time.Time) bool {
	changed := false
	for _, b := range blocks {
		if c.Put(scope+b.Key, broker.KindEnv, b.Value, now) {
			changed = true
		}
	}
	return changed
}

// blocksFor returns the vault's blocks of one home (not its env records).
func blocksFor(c *broker.Contents, scope string) (auth, docs []hermes.Block) {
	for _, k := range c.Keys() {
		rest, ok := strings.CutPrefix(k, scope)
		if !ok || strings.HasPrefix(rest, "profiles/") || strings.HasPrefix(rest, "env/") {
			continue
		}
		r := c.Records[k]
		var b hermes.Block
		if len(r.Block) > 0 {
			json.Unmarshal(r.Block, &b)
		}
		if b.Key == "" { // put by hand: a provider block or pool entry
			b.Key, b.Kind = rest, hermes.Kind(r.Kind)
			if name, ok := strings.CutPrefix(rest, "providers/"); ok {
				b.Name = name
			}
		}
		b.Value = r.Value
		if b.Kind == hermes.KindDocument {
			docs = append(docs, b)
		} else {
			auth = append(auth, b)
		}
	}
	return auth, docs
}

// Seal moves every secret of homes into the vault and leaves skeletons
// behind: all documents under all their locks (profiles, the root, the
// shared Nous store: Hermes's order), one verified vault write, then the
// skeletons. A home's .env is sealed when it was migrated before (the vault
// holds env records of it, or it carries this vault's marker), or with
// opts.Env. With opts.Keep the files keep their tokens (a live run still
// uses them) and only the vault is brought up to date.
func Seal(ctx context.Context, homes []hermes.Home, v *broker.Vault, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &Report{}
	r := NewRoot(homes, v, opts.Now)
	r.Env = opts.Env
	res, err := r.Sync(ctx, SyncOptions{Scrub: !opts.Keep, DryRun: opts.DryRun})
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	rep.Sealed = res.Sealed
	for _, h := range r.Homes {
		rep.Copies = append(rep.Copies, hermes.ScanCopies(h)...)
	}
	return rep, nil
}

// Unseal puts every sealed block of homes back into the plaintext files
// (only where a file lacks it: the file is the truth; a cross-file group
// only where no part of it is present), under all the documents' locks,
// each home's own env records back into its .env, and removes the markers.
// The vault is left as it is.
func Unseal(ctx context.Context, homes []hermes.Home, v *broker.Vault) (*Report, error) {
	r := NewRoot(homes, v, nil)
	restored, err := r.Unseal(ctx)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return &Report{Restored: restored}, nil
}

// ordered puts profiles before the root, as Hermes takes its locks.
func ordered(homes []hermes.Home) []hermes.Home {
	out := make([]hermes.Home, 0, len(homes))
	for _, h := range homes {
		if h.Profile != "" {
			out = append(out, h)
		}
	}
	for _, h := range homes {
		if h.Profile == "" {
			out = append(out, h)
		}
	}
	return out
}
