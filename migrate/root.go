package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// Root is the secret documents of some homes of one Hermes root: each
// home's auth.json and .anthropic_oauth.json, the shared Nous store, and
// each home's .env once it was migrated (the vault holds env records of
// that home, or the .env carries this vault's marker comment): its secret
// keys are env/NAME records, materialised into .env under a run and
// scrubbed from it like auth.json's blocks.
// Its operations take every lock first, in Hermes's order (profiles, the
// root, the shared store), and hold them all until done, so that the
// blocks Hermes keeps in sync across files (a Nous provider block and
// shared/nous_auth.json; Anthropic's pool entries and .anthropic_oauth.json)
// are sealed in one vault write and materialised together.
type Root struct {
	Homes []hermes.Home
	Vault Store
	Now   func() time.Time
	// Env makes every home's .env a secret document, migrated or not
	// (migrate --env).
	Env bool
	// EnvHome, when set, says which homes' .env Materialise fills: a run
	// of a profile also materialises the root's auth.json (Hermes writes
	// rotations through to it) but Hermes loads only the profile's .env.
	EnvHome func(h hermes.Home) bool
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
	key   string // "" for auth.json, else hermes.DocSharedNous, DocAnthropicOAuth or docEnv
	path  string
	scope string
}

func (r *Root) docs() []docRef {
	var out []docRef
	for _, h := range r.Homes {
		sc := scopeOf(h)
		out = append(out, docRef{h, "", h.AuthPath(), sc},
			docRef{h, hermes.DocAnthropicOAuth, h.AnthropicOAuthPath(), sc},
			docRef{h, docEnv, h.EnvPath(), sc})
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

// lock takes every Hermes lock of the documents, in Hermes's order. A
// profile whose directory is gone (Hermes deleted or renamed it) is not
// locked and never recreated: it is returned in gone (by directory), and
// the caller leaves it out (see existing).
func (r *Root) lock(ctx context.Context) (unlock func(), gone map[string]bool, err error) {
	var paths []string
	seen := map[string]bool{}
	home := map[string]bool{} // lock paths inside a profile's directory
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, h := range r.Homes {
		add(h.LockPath())
		home[h.LockPath()] = h.Profile != ""
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
	gone = map[string]bool{}
	for _, p := range paths {
		acquire := hermes.AcquireLock
		if home[p] {
			acquire = hermes.AcquireHomeLock
		}
		lk, err := acquire(ctx, p, 0)
		if home[p] && errors.Is(err, hermes.ErrHomeGone) {
			gone[filepath.Dir(p)] = true
			continue
		}
		if err != nil {
			unlock()
			return nil, nil, err
		}
		held = append(held, lk)
	}
	return unlock, gone, nil
}

// docEnv is the docRef key of a home's .env. Its records are env/NAME.
const docEnv = ".env"

// docState is one document as read under the locks.
type docState struct {
	ref    docRef
	raw    []byte         // whole documents and .env: the bytes read; nil when absent
	doc    *hermes.Object // auth.json
	skel   *hermes.Object // auth.json's skeleton, when blocks is not empty
	blocks []hermes.Block
	// .env only: the parsed file, whether it is a secret document of its
	// home, and whose marker it carries ("" none).
	env     *hermes.EnvFile
	managed bool
	mark    string
}

func (s *docState) exists() bool {
	if s.ref.key == "" {
		return s.doc != nil && len(s.doc.Members) > 0
	}
	return s.raw != nil
}

// ours reports whether the document carries this vault's marker: only
// then is a block missing from it a removal Hermes made (a marker of
// another vault, or none, says nothing about this vault's records).
func (s *docState) ours(vaultID string) bool {
	switch s.ref.key {
	case "":
		return hermes.MarkerVaultID(s.doc) == vaultID
	case docEnv:
		return s.mark != "" && s.mark == vaultID
	}
	return false
}

// envNames returns the env record names the vault holds for scope.
func envNames(c *broker.Contents, scope string) map[string]bool {
	out := map[string]bool{}
	if c == nil {
		return out
	}
	prefix := scope + "env/"
	for k := range c.Records {
		if name, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(name, "/") {
			out[name] = true
		}
	}
	return out
}

// readEnv reads a home's .env as a secret document: each usable value of a
// secret-shaped key, or of a key the vault holds a record of, is an
// env/NAME block. c may be nil (no records known).
func (r *Root) readEnv(st *docState, c *broker.Contents, vaultID string) error {
	raw, err := hermes.ReadDocumentFile(st.ref.path)
	if err != nil {
		return err
	}
	st.raw = raw
	if raw == nil {
		return nil
	}
	st.env = hermes.ParseEnv(raw)
	st.mark = st.env.MarkerVaultID()
	names := envNames(c, st.ref.scope)
	st.managed = r.Env || len(names) > 0 || st.mark == vaultID
	if !st.managed {
		return nil
	}
	for _, k := range st.env.SealableKeys(func(n string) bool { return names[n] || hermes.IsSecretEnvKey(n) }) {
		val, _ := st.env.Lookup(k)
		b, _ := json.Marshal(val)
		st.blocks = append(st.blocks, hermes.Block{Key: "env/" + k, Kind: broker.KindEnv, Name: k, Value: b,
			Secrets: []hermes.SecretField{{Path: k, Size: len(val)}}})
	}
	return nil
}

func (r *Root) read(m hermes.Marker, c *broker.Contents) ([]*docState, error) {
	var out []*docState
	for _, d := range r.docs() {
		st := &docState{ref: d}
		if d.key == docEnv {
			if err := r.readEnv(st, c, m.VaultID); err != nil {
				return nil, err
			}
		} else if d.key == "" {
			doc, err := hermes.ReadDoc(d.path)
			if err != nil {
				return nil, err
			}
			st.doc = doc
			hm := m
			hm.Profile = hermes.ProfileLabel(d.home.Profile) // which home it was sealed for
			sk, blocks, err := hermes.Split(doc, hm)
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
	// It is only trusted for an auth.json or .env that still carries this
	// vault's marker: a store Hermes reset to empty (after finding it
	// corrupt) lost its blocks by accident, and a skeleton of another
	// vault (a root sharing the Nous store) says nothing about this one's
	// records: the vault keeps them. A whole document that vanished
	// (shared/nous_auth.json, .anthropic_oauth.json) is removed only
	// together with a block of its group that Hermes removed from a marked
	// auth.json, in this sync or an earlier one of the session (Gone).
	// Nil: no removals.
	Seen map[string]bool
	// Gone is the record keys Hermes removed earlier in this session.
	Gone map[string]bool
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
		unlock, gone, err := r.lock(ctx)
		if err != nil {
			return nil, false, err
		}
		defer unlock()
		r = r.existing(gone)
	} else {
		r = r.existing(r.missing())
	}
	now := r.Now()
	marker := hermes.Marker{VaultID: r.Vault.ID(), SealedAt: now.UTC()}
	states, err := r.read(marker, nil)
	if err != nil {
		return nil, false, err
	}
	if err := r.readEnvRecords(ctx, states, marker.VaultID, opts.DryRun); err != nil {
		return nil, false, err
	}
	res = &SyncResult{Present: map[string]bool{}}
	for _, st := range states {
		for _, b := range st.blocks {
			res.Present[st.ref.scope+b.Key] = true
			res.Sealed = append(res.Sealed, itemOf(st.ref.home, b))
		}
	}
	res.Removed = removals(states, marker.VaultID, opts.Seen, opts.Gone, res.Present)
	if opts.DryRun {
		return res, false, nil
	}
	moves := profileMoves(states, marker.VaultID)
	var after *broker.Contents
	if len(res.Present) > 0 || len(res.Removed) > 0 || len(moves) > 0 {
		after, err = r.Vault.Update(ctx, func(c *broker.Contents) (bool, error) {
			// A renamed or cloned profile's records first: the blocks its
			// files hold now are put over them.
			_, changed := applyMoves(c, moves, now)
			for _, st := range states {
				gens := map[string]uint64{}
				for _, b := range st.blocks {
					if r := c.Records[st.ref.scope+b.Key]; r != nil {
						gens[b.Key] = r.Generation
					}
				}
				put := putBlocks
				if st.ref.key == docEnv {
					put = putEnv
				}
				if put(c, st.ref.scope, st.blocks, now) {
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
	if err := stampMarkers(states, marker.VaultID); err != nil {
		return nil, false, err
	}
	if !opts.Scrub {
		return res, false, nil
	}
	if err := r.scrubSharedCopies(ctx, after); err != nil {
		return nil, false, err
	}
	// The vault holds every block, read back and verified: now the
	// plaintext can go.
	if testHookBeforeScrub != nil {
		testHookBeforeScrub()
	}
	for _, st := range states {
		if st.ref.key == docEnv {
			again2, err := r.scrubEnv(st, marker.VaultID)
			if err != nil {
				return nil, false, err
			}
			again = again || again2
			continue
		}
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
// the removal was Hermes's own: an auth.json or .env carrying this vault's
// marker. A whole document that vanished counts only when Hermes also
// removed a block of its group from a marked auth.json (now, or earlier in
// the session: gone); a vanished file alone is never a reason.
func removals(states []*docState, vaultID string, seen, gone, present map[string]bool) []string {
	if seen == nil {
		return nil
	}
	var out, docs []string
	for k := range seen {
		if present[k] {
			continue
		}
		for _, st := range states {
			if !owns(st.ref, k) {
				continue
			}
			switch st.ref.key {
			case "", docEnv:
				if st.ours(vaultID) {
					out = append(out, k)
				}
			default:
				docs = append(docs, k)
			}
			break
		}
	}
	removed := map[string]bool{}
	for k := range gone {
		removed[k] = true
	}
	for _, k := range out {
		removed[k] = true
	}
	for _, k := range docs {
		if groupRemoved(k, removed) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// docGroups names the auth.json records of a whole document's group: what
// Hermes removes with it (auth remove of the hermes_pkce entry deletes
// .anthropic_oauth.json; a quarantined Nous login clears the shared store).
var docGroups = map[string][]string{
	hermes.DocAnthropicOAuth: {"pool/anthropic/", "providers/anthropic"},
	hermes.DocSharedNous:     {"pool/nous/", "providers/nous"},
}

// groupRemoved reports whether a record of whole document k's group, in
// its scope (the root's for the shared Nous store), is among removed.
func groupRemoved(k string, removed map[string]bool) bool {
	scope, doc := "", k
	if i := strings.LastIndex(k, "file/"); i >= 0 {
		scope, doc = k[:i], k[i:]
	}
	for r := range removed {
		rest, ok := strings.CutPrefix(r, scope)
		if !ok || strings.HasPrefix(rest, "profiles/") {
			continue
		}
		for _, p := range docGroups[doc] {
			if strings.HasPrefix(rest, p) {
				return true
			}
		}
	}
	return false
}

// owns reports whether record key k belongs to document d.
func owns(d docRef, k string) bool {
	rest, ok := strings.CutPrefix(k, d.scope)
	if !ok || strings.HasPrefix(rest, "profiles/") {
		return false
	}
	if d.key == docEnv {
		return strings.HasPrefix(rest, "env/")
	}
	if strings.HasPrefix(rest, "env/") {
		return false
	}
	if d.key != "" {
		return rest == d.key
	}
	return !strings.HasPrefix(rest, "file/")
}

// readEnvRecords reads the vault's env record names when a .env exists, and
// reads each .env again with them: a .env is a secret document of its home
// when the vault holds env records of it. A dry run against a vault not
// yet created knows none.
func (r *Root) readEnvRecords(ctx context.Context, states []*docState, vaultID string, dry bool) error {
	found := false
	for _, st := range states {
		found = found || st.ref.key == docEnv && st.raw != nil
	}
	if !found {
		return nil
	}
	c, err := r.Vault.Read(ctx)
	if err != nil {
		if dry {
			c = nil
		} else {
			return err
		}
	}
	for _, st := range states {
		if st.ref.key == docEnv && st.raw != nil {
			*st = docState{ref: st.ref}
			if err := r.readEnv(st, c, vaultID); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrubEnv takes the sealed keys out of a home's .env and leaves this
// vault's marker comment (so a later run can tell Hermes's removals), every
// other line byte for byte. Hermes writes .env without a lock, so the file
// is replaced only if it still holds what was read; again reports that it
// changed meanwhile.
func (r *Root) scrubEnv(st *docState, vaultID string) (again bool, err error) {
	if !st.managed || st.raw == nil {
		return false, nil
	}
	keys := make([]string, 0, len(st.blocks))
	for _, b := range st.blocks {
		keys = append(keys, b.Name)
	}
	f := hermes.ParseEnv(st.raw)
	if _, err := f.Remove(keys...); err != nil {
		return false, fmt.Errorf("%s: %w", st.ref.path, err)
	}
	f.SetMarker(vaultID)
	ok, err := replaceEnv(st.ref.path, st.raw, f)
	if err != nil {
		return false, fmt.Errorf("scrub %s: %w", st.ref.path, err)
	}
	return !ok, nil
}

// replaceEnv writes f to path if the file still holds exactly want (nil:
// absent), and reports whether it did (or nothing needed writing).
func replaceEnv(path string, want []byte, f *hermes.EnvFile) (bool, error) {
	if bytes.Equal(f.Bytes(), want) && want != nil {
		return true, nil
	}
	now, err := hermes.ReadDocumentFile(path)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(now, want) || (now == nil) != (want == nil) {
		return false, nil
	}
	return true, hermes.WriteEnvFile(path, f)
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
	unlock, gone, err := r.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	r = r.existing(gone) // a deleted profile's records stay orphaned
	c, err := r.Vault.Read(ctx)
	if err != nil {
		return nil, nil, err
	}
	states, err := r.read(hermes.Marker{VaultID: r.Vault.ID(), SealedAt: r.Now().UTC()}, c)
	if err != nil {
		return nil, nil, err
	}
	if len(profileMoves(states, r.Vault.ID())) > 0 {
		// A renamed or cloned profile gets its records before they are
		// put back.
		if err := r.settleMoves(ctx, states, r.Vault.ID()); err != nil {
			return nil, nil, err
		}
		if c, err = r.Vault.Read(ctx); err != nil {
			return nil, nil, err
		}
		if states, err = r.read(hermes.Marker{VaultID: r.Vault.ID(), SealedAt: r.Now().UTC()}, c); err != nil {
			return nil, nil, err
		}
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
		if st.ref.key == docEnv {
			keys, err := r.restoreEnv(st, c, unseal)
			if err != nil {
				return nil, nil, fmt.Errorf("restore %s: %w", st.ref.path, err)
			}
			restored = append(restored, keys...)
			continue
		}
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
	after, err := r.read(hermes.Marker{VaultID: r.Vault.ID()}, c)
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

// restoreEnv puts the home's own env records into its .env where the file
// gives the key no value (the file is the truth), and this vault's marker
// with them; unseal removes the marker instead. It never creates the
// home's directory (a deleted profile stays deleted). Hermes writes .env
// without a lock: the file is replaced only if it still holds what was
// read, else read again.
func (r *Root) restoreEnv(st *docState, c *broker.Contents, unseal bool) ([]string, error) {
	env, err := c.EnvRecords(st.ref.home.Profile)
	if err != nil {
		return nil, err
	}
	if len(env) == 0 && (!unseal || st.mark == "") || !unseal && r.EnvHome != nil && !r.EnvHome(st.ref.home) {
		return nil, nil
	}
	if _, err := os.Stat(st.ref.home.Dir); err != nil {
		return nil, nil
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	raw := st.raw
	for attempt := 0; ; attempt++ {
		f := hermes.ParseEnv(raw)
		var restored []string
		for _, k := range names {
			added, err := f.Add(k, env[k])
			if err != nil {
				return nil, fmt.Errorf("env:%s: %w", k, err)
			}
			if added {
				restored = append(restored, st.ref.scope+"env/"+k)
			}
		}
		if unseal {
			f.RemoveMarker()
		} else {
			f.SetMarker(r.Vault.ID())
		}
		ok, err := replaceEnv(st.ref.path, raw, f)
		if err != nil {
			return nil, err
		}
		if ok {
			return restored, nil
		}
		if attempt == 2 {
			return nil, errors.New("it kept changing while the sealed keys were put back")
		}
		if raw, err = hermes.ReadDocumentFile(st.ref.path); err != nil {
			return nil, err
		}
	}
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
