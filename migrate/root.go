package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// Root is the secret documents of some homes of one Hermes root: each
// home's auth.json and .anthropic_oauth.json, and the shared Nous store.
// Its operations take every lock first, in Hermes's order (profiles, the
// root, the shared store), and hold them all until done, so that the
// blocks Hermes keeps in sync across files (a Nous provider block and
// shared/nous_auth.json; Anthropic's pool entries and .anthropic_oauth.json)
// are sealed in one vault write and materialised together.
type Root struct {
	Homes []hermes.Home
	Vault Store
	Now   func() time.Time
}

// Store is what Root needs of a vault: its id (the marker in every
// skeleton), a read, and a verified read-modify-write. *broker.Vault is one;
// the broker daemon's client is another, for a run that must not hold the
// vault key itself.
type Store interface {
	ID() string
	Read(ctx context.Context) (*broker.Contents, error)
	Update(ctx context.Context, change func(c *broker.Contents) (bool, error)) (*broker.Contents, error)
}

// NewRoot returns the Root of homes (any order; profiles are locked first).
func NewRoot(homes []hermes.Home, v Store, now func() time.Time) *Root {
	if now == nil {
		now = time.Now
	}
	return &Root{Homes: ordered(homes), Vault: v, Now: now}
}

// docRef is one secret document and the vault scope of its records.
type docRef struct {
	home  hermes.Home
	key   string // "" for auth.json, else hermes.DocSharedNous or DocAnthropicOAuth
	path  string
	scope string
}

func (r *Root) docs() []docRef {
	var out []docRef
	for _, h := range r.Homes {
		sc := scopeOf(h)
		out = append(out, docRef{h, "", h.AuthPath(), sc},
			docRef{h, hermes.DocAnthropicOAuth, h.AnthropicOAuthPath(), sc})
	}
	if len(r.Homes) > 0 {
		h := r.Homes[0]
		out = append(out, docRef{h.RootHome(), hermes.DocSharedNous, h.SharedNousPath(), ""})
	}
	return out
}

// Dirs returns the directories that hold the documents: what a watcher
// watches (Hermes saves by renaming, which replaces the file's inode).
func (r *Root) Dirs() []string {
	var dirs []string
	seen := map[string]bool{}
	for _, d := range r.docs() {
		if dir := filepath.Dir(d.path); !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// lock takes every Hermes lock of the documents, in Hermes's order.
func (r *Root) lock(ctx context.Context) (unlock func(), err error) {
	var paths []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, h := range r.Homes {
		add(h.LockPath())
	}
	if len(r.Homes) > 0 {
		add(r.Homes[0].SharedNousLockPath())
	}
	var held []*hermes.Lock
	unlock = func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
	for _, p := range paths {
		lk, err := hermes.AcquireLock(ctx, p, 0)
		if err != nil {
			unlock()
			return nil, err
		}
		held = append(held, lk)
	}
	return unlock, nil
}

// docState is one document as read under the locks.
type docState struct {
	ref    docRef
	raw    []byte         // whole documents: the bytes read; nil when absent
	doc    *hermes.Object // auth.json
	skel   *hermes.Object // auth.json's skeleton, when blocks is not empty
	blocks []hermes.Block
}

func (s *docState) exists() bool {
	if s.ref.key == "" {
		return s.doc != nil && len(s.doc.Members) > 0
	}
	return s.raw != nil
}

func (r *Root) read(m hermes.Marker) ([]*docState, error) {
	var out []*docState
	for _, d := range r.docs() {
		st := &docState{ref: d}
		if d.key == "" {
			doc, err := hermes.ReadDoc(d.path)
			if err != nil {
				return nil, err
			}
			st.doc = doc
			sk, blocks, err := hermes.Split(doc, m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.path, err)
			}
			st.skel, st.blocks = sk, blocks
		} else {
			raw, err := hermes.ReadDocumentFile(d.path)
			if err != nil {
				return nil, err
			}
			st.raw = raw
			if raw != nil {
				b, err := hermes.SealDocument(d.key, raw)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", d.path, err)
				}
				st.blocks = []hermes.Block{b}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// testHookBeforeScrub lets a test change a document between the vault
// write and the scrub (a writer racing the scrub).
var testHookBeforeScrub func()

// SyncOptions tune Sync.
type SyncOptions struct {
	// Scrub replaces the plaintext by the skeleton once the vault holds it
	// (seal, migrate, the last run out). Without it the files keep their
	// tokens (a live run).
	Scrub  bool
	DryRun bool
	// Seen is the set of record keys the files held at the previous sync
	// of this session. A key seen then and gone now was removed by Hermes
	// (a logout, `hermes auth remove`, a quarantined Nous login) and is
	// removed from the vault too, so the next run does not bring it back.
	// It is only trusted for an auth.json that still carries the marker:
	// a store Hermes reset to empty (after finding it corrupt) lost its
	// blocks by accident, and the vault keeps them. Nil: no removals.
	Seen map[string]bool
}

// SyncResult says what Sync found and did.
type SyncResult struct {
	// Sealed lists every block found in plaintext (now in the vault).
	Sealed []Item
	// Present is the set of record keys the files hold now.
	Present map[string]bool
	// Changed lists the records whose value changed (new or rotated).
	Changed []string
	// Removed lists the records removed because Hermes removed them.
	Removed []string
	// Wrote reports whether the vault changed.
	Wrote bool
}

// Sync stores every secret block the documents hold in the vault, in one
// verified vault write under all the documents' locks, and with Scrub then
// writes the skeletons and removes the whole documents.
func (r *Root) Sync(ctx context.Context, opts SyncOptions) (*SyncResult, error) {
	for attempt := 0; ; attempt++ {
		res, again, err := r.syncOnce(ctx, opts)
		if err != nil || !again {
			return res, err
		}
		if attempt == 2 {
			return res, errors.New("a secret document kept changing while it was sealed; it was left in place (its content is in the vault)")
		}
		// The first attempt may have written skeletons already: what is
		// missing now was scrubbed by us, not removed by Hermes.
		opts.Seen = nil
	}
}

func (r *Root) syncOnce(ctx context.Context, opts SyncOptions) (res *SyncResult, again bool, err error) {
	if !opts.DryRun {
		unlock, err := r.lock(ctx)
		if err != nil {
			return nil, false, err
		}
		defer unlock()
	}
	now := r.Now()
	marker := hermes.Marker{VaultID: r.Vault.ID(), SealedAt: now.UTC()}
	states, err := r.read(marker)
	if err != nil {
		return nil, false, err
	}
	res = &SyncResult{Present: map[string]bool{}}
	for _, st := range states {
		for _, b := range st.blocks {
			res.Present[st.ref.scope+b.Key] = true
			res.Sealed = append(res.Sealed, itemOf(st.ref.home, b))
		}
	}
	res.Removed = removals(states, opts.Seen, res.Present)
	if opts.DryRun {
		return res, false, nil
	}
	if len(res.Present) > 0 || len(res.Removed) > 0 {
		_, err := r.Vault.Update(ctx, func(c *broker.Contents) (bool, error) {
			changed := false
			for _, st := range states {
				gens := map[string]uint64{}
				for _, b := range st.blocks {
					if r := c.Records[st.ref.scope+b.Key]; r != nil {
						gens[b.Key] = r.Generation
					}
				}
				if putBlocks(c, st.ref.scope, st.blocks, now) {
					changed = true
				}
				for _, b := range st.blocks {
					if c.Records[st.ref.scope+b.Key].Generation != gens[b.Key] {
						res.Changed = append(res.Changed, st.ref.scope+b.Key)
					}
				}
			}
			for _, k := range res.Removed {
				if c.Records[k] != nil {
					delete(c.Records, k)
					changed = true
				}
			}
			res.Wrote = changed
			return changed, nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	if !opts.Scrub {
		return res, false, nil
	}
	// The vault holds every block, read back and verified: now the
	// plaintext can go.
	if testHookBeforeScrub != nil {
		testHookBeforeScrub()
	}
	for _, st := range states {
		if len(st.blocks) == 0 {
			continue
		}
		if st.ref.key == "" {
			if err := hermes.WriteDoc(st.ref.path, st.skel); err != nil {
				return nil, false, fmt.Errorf("write the skeleton of %s: %w", st.ref.path, err)
			}
			continue
		}
		removed, err := hermes.RemoveDocumentFile(st.ref.path, st.raw)
		if err != nil {
			return nil, false, fmt.Errorf("remove %s: %w", st.ref.path, err)
		}
		if !removed {
			again = true // .anthropic_oauth.json is written without a lock
		}
	}
	return res, again, nil
}

// removals returns the keys seen before and gone now whose document says
// the removal was Hermes's own.
func removals(states []*docState, seen, present map[string]bool) []string {
	if seen == nil {
		return nil
	}
	var out []string
	for k := range seen {
		if present[k] {
			continue
		}
		for _, st := range states {
			if !owns(st.ref, k) {
				continue
			}
			// auth.json: only while it is still the store we materialised.
			if st.ref.key == "" && !hermes.HasMarker(st.doc) {
				break
			}
			out = append(out, k)
			break
		}
	}
	sort.Strings(out)
	return out
}

// owns reports whether record key k belongs to document d.
func owns(d docRef, k string) bool {
	rest, ok := strings.CutPrefix(k, d.scope)
	if !ok || strings.HasPrefix(rest, "profiles/") || strings.HasPrefix(rest, "env/") {
		return false
	}
	if d.key != "" {
		return rest == d.key
	}
	return !strings.HasPrefix(rest, "file/")
}

// Materialise puts the sealed blocks back into the documents, under all
// their locks, where the files lack them: the file is the truth whenever
// it holds a block. Blocks Hermes keeps in sync across files go back
// together or not at all: a Nous pair is restored only when neither the
// root auth.json nor shared/nous_auth.json holds one, and likewise for an
// Anthropic login and its .anthropic_oauth.json. It returns the record
// keys the files hold afterwards (the baseline for Sync's Seen) and the
// keys it restored.
func (r *Root) Materialise(ctx context.Context) (present map[string]bool, restored []string, err error) {
	return r.restore(ctx, false)
}

// Unseal is Materialise for the way out (unmigrate): it also removes the
// hermes_keys marker from every auth.json, so the store is plain Hermes
// again. It returns the keys it restored.
func (r *Root) Unseal(ctx context.Context) (restored []string, err error) {
	_, restored, err = r.restore(ctx, true)
	return restored, err
}

func (r *Root) restore(ctx context.Context, unseal bool) (present map[string]bool, restored []string, err error) {
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	c, err := r.Vault.Read(ctx)
	if err != nil {
		return nil, nil, err
	}
	states, err := r.read(hermes.Marker{VaultID: r.Vault.ID(), SealedAt: r.Now().UTC()})
	if err != nil {
		return nil, nil, err
	}
	// Cross-file groups present anywhere block their restoring everywhere.
	crossPresent := map[string]bool{} // scope+group
	for _, st := range states {
		switch {
		case st.ref.key == hermes.DocSharedNous && st.exists():
			crossPresent["nous"] = true
		case st.ref.key == hermes.DocAnthropicOAuth && st.exists():
			crossPresent[st.ref.scope+"anthropic"] = true
		case st.ref.key == "" && st.doc != nil:
			if st.ref.home.Profile == "" && hermes.HasGroup(st.doc, "nous") {
				crossPresent["nous"] = true
			}
			if hermes.HasGroup(st.doc, "anthropic") {
				crossPresent[st.ref.scope+"anthropic"] = true
			}
		}
	}
	blocked := func(scope string, home hermes.Home, b hermes.Block) bool {
		switch {
		case b.Key == hermes.DocSharedNous:
			return crossPresent["nous"]
		case b.Group == "nous" && home.Profile == "":
			return crossPresent["nous"]
		case b.Key == hermes.DocAnthropicOAuth, b.Group == "anthropic":
			return crossPresent[scope+"anthropic"]
		}
		return false
	}
	for _, st := range states {
		auth, docs := blocksFor(c, st.ref.scope)
		if st.ref.key == "" {
			var want []hermes.Block
			for _, b := range auth {
				if !blocked(st.ref.scope, st.ref.home, b) {
					want = append(want, b)
				}
			}
			if len(want) == 0 && (!unseal || !hermes.HasMarker(st.doc)) {
				continue
			}
			err := hermes.UpdateHeld(st.ref.path, func(doc *hermes.Object) (bool, error) {
				merge := hermes.Merge
				if unseal {
					merge = hermes.Unseal // Merge, then the marker goes
				}
				out, rep, err := merge(doc, want)
				if err != nil {
					return false, err
				}
				for _, k := range rep.Restored {
					restored = append(restored, st.ref.scope+k)
				}
				changed := len(rep.Restored) > 0 || len(out.Members) != len(doc.Members)
				*doc = *out
				return changed, nil
			})
			if err != nil {
				return nil, nil, fmt.Errorf("restore %s: %w", st.ref.path, err)
			}
			continue
		}
		if st.exists() {
			continue
		}
		for _, b := range docs {
			if b.Key != st.ref.key || blocked(st.ref.scope, st.ref.home, b) {
				continue
			}
			if err := hermes.WriteDocumentFile(st.ref.path, b); err != nil {
				return nil, nil, fmt.Errorf("restore %s: %w", st.ref.path, err)
			}
			restored = append(restored, st.ref.scope+b.Key)
		}
	}
	after, err := r.read(hermes.Marker{VaultID: r.Vault.ID()})
	if err != nil {
		return nil, nil, err
	}
	present = map[string]bool{}
	for _, st := range after {
		for _, b := range st.blocks {
			present[st.ref.scope+b.Key] = true
		}
	}
	return present, restored, nil
}

// Fingerprint identifies the documents' current state cheaply (size,
// modification time and, where the platform has one, the file identity of
// each), so a periodic check can skip a sync when nothing changed.
func (r *Root) Fingerprint() string {
	var b bytes.Buffer
	for _, d := range r.docs() {
		b.WriteString(statKey(d.path))
		b.WriteByte(0)
	}
	return b.String()
}

// blockMeta is the placement metadata stored beside a record's value.
func blockMeta(b hermes.Block) json.RawMessage {
	meta := b
	meta.Value = nil
	meta.Secrets = nil
	mb, _ := json.Marshal(meta)
	return mb
}
