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
	"errors"
	"fmt"
	"os"
	"sort"
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
// skeletons. With opts.Keep the files keep their tokens (a live run still
// uses them) and only the vault is brought up to date.
func Seal(ctx context.Context, homes []hermes.Home, v *broker.Vault, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &Report{}
	r := NewRoot(homes, v, opts.Now)
	res, err := r.Sync(ctx, SyncOptions{Scrub: !opts.Keep, DryRun: opts.DryRun})
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	rep.Sealed = res.Sealed
	for _, h := range r.Homes {
		if opts.Env {
			items, err := sealEnv(ctx, h, v, opts)
			if err != nil {
				return nil, err
			}
			rep.Sealed = append(rep.Sealed, items...)
		}
		rep.Copies = append(rep.Copies, hermes.ScanCopies(h)...)
	}
	return rep, nil
}

// sealEnv moves the secret-shaped keys of .env into env/NAME records, then
// rewrites .env without them (comments, order and other lines kept).
func sealEnv(ctx context.Context, h hermes.Home, v *broker.Vault, opts Options) ([]Item, error) {
	f, err := hermes.ReadEnvFile(h.EnvPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.EnvPath(), err)
	}
	keys := f.SecretEnvKeys()
	var items []Item
	vals := map[string]string{}
	for _, k := range keys {
		val, _ := f.Lookup(k)
		vals[k] = val
		items = append(items, Item{Home: h.Dir, Key: scopeOf(h) + "env/" + k, Kind: broker.KindEnv, Secrets: 1, Bytes: len(val)})
	}
	if opts.DryRun || len(keys) == 0 {
		return items, nil
	}
	if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
		changed := false
		for k, val := range vals {
			b, _ := json.Marshal(val)
			changed = c.Put(scopeOf(h)+"env/"+k, broker.KindEnv, b, opts.Now()) || changed
		}
		return changed, nil
	}); err != nil {
		return nil, err
	}
	if _, err := f.Remove(keys...); err != nil {
		return nil, fmt.Errorf("%s: %w", h.EnvPath(), err)
	}
	if err := hermes.WriteEnvFile(h.EnvPath(), f); err != nil {
		return nil, err
	}
	return items, nil
}

// Unseal puts every sealed block of homes back into the plaintext files
// (only where a file lacks it: the file is the truth; a cross-file group
// only where no part of it is present), under all the documents' locks,
// the env records back into .env, and removes the marker. The vault is
// left as it is.
func Unseal(ctx context.Context, homes []hermes.Home, v *broker.Vault) (*Report, error) {
	r := NewRoot(homes, v, nil)
	restored, err := r.Unseal(ctx)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	rep := &Report{Restored: restored}
	c, err := v.Read(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range r.Homes {
		env, err := c.EnvRecords(h.Profile)
		if err != nil {
			return nil, err
		}
		if len(env) > 0 {
			restored, err := unsealEnv(h, scopeOf(h), c, env)
			if err != nil {
				return nil, err
			}
			rep.Restored = append(rep.Restored, restored...)
		}
	}
	return rep, nil
}

func unsealEnv(h hermes.Home, scope string, c *broker.Contents, env map[string]string) ([]string, error) {
	f, err := hermes.ReadEnvFile(h.EnvPath())
	if errors.Is(err, os.ErrNotExist) {
		f, err = hermes.ParseEnv(nil), nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range env {
		if c.Records[scope+"env/"+k] != nil { // only this home's own records
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var restored []string
	for _, k := range names {
		added, err := f.Add(k, env[k])
		if err != nil {
			return nil, fmt.Errorf("%s: env:%s: %w", h.EnvPath(), k, err)
		}
		if added {
			restored = append(restored, scope+"env/"+k)
		}
	}
	if len(restored) == 0 {
		return nil, nil
	}
	return restored, hermes.WriteEnvFile(h.EnvPath(), f)
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
