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

// Profile directories are Hermes's. hermes-keys never creates one (not
// even for a lock), follows a rename, gives a clone its own copy of the
// records, and treats the records of a deleted profile as orphaned: never
// materialised, removed only by an explicit Forget.
//
// A rename or clone is recognised by the skeleton Hermes moved or copied:
// its marker names the home it was sealed for. In a home whose marker
// names another home of this vault:
//   - that home's directory is gone: a rename; its records move here;
//   - it still exists: a clone (`hermes profile create --clone-all`
//     copies auth.json and .env, credentials included); its records are
//     copied here, as Hermes's own copy would have given the clone the
//     same credentials. The root's shared Nous store is never copied: it
//     is every home's.
//
// Either way the marker is then made to name its own home, so the move
// happens once.

// profileMove is a skeleton found in a home other than the one it was
// sealed for.
type profileMove struct {
	to    hermes.Home
	from  string // the source home's scope
	clone bool
}

// existing returns r without the homes whose directory is gone (the root
// always stays), and the gone ones.
func (r *Root) existing(gone map[string]bool) *Root {
	if len(gone) == 0 {
		return r
	}
	rr := *r
	rr.Homes = nil
	for _, h := range r.Homes {
		if h.Profile == "" || !gone[h.Dir] {
			rr.Homes = append(rr.Homes, h)
		}
	}
	return &rr
}

// missing returns the profile homes of r whose directory does not exist
// (a dry run takes no lock, so it asks the file system).
func (r *Root) missing() map[string]bool {
	gone := map[string]bool{}
	for _, h := range r.Homes {
		if h.Profile != "" && !h.Exists() {
			gone[h.Dir] = true
		}
	}
	return gone
}

// profileMoves finds the auth.json skeletons of this vault whose marker
// names another home.
func profileMoves(states []*docState, vaultID string) []profileMove {
	var out []profileMove
	for _, st := range states {
		if st.ref.key != "" || hermes.MarkerVaultID(st.doc) != vaultID {
			continue
		}
		label, ok := hermes.MarkerProfile(st.doc)
		if !ok || label == hermes.ProfileLabel(st.ref.home.Profile) {
			continue
		}
		src := hermes.ProfileOfLabel(label)
		out = append(out, profileMove{
			to:    st.ref.home,
			from:  broker.Scope(src),
			clone: st.ref.home.ProfileDirExists(src),
		})
	}
	return out
}

// applyMoves copies each move's records to its home's scope (replacing a
// record of the same key: the destination directory is new, so a record
// already under its name is a leftover of a deleted profile of that name)
// and, for a rename, removes them from the old scope. It returns the keys
// written.
func applyMoves(c *broker.Contents, moves []profileMove, now time.Time) (written []string, changed bool) {
	drop := map[string]bool{}
	for _, mv := range moves {
		to := scopeOf(mv.to)
		for _, k := range c.Keys() {
			rest, ok := strings.CutPrefix(k, mv.from)
			if !ok || strings.HasPrefix(rest, "profiles/") || (mv.from == "" && rest == hermes.DocSharedNous) {
				continue
			}
			r := c.Records[k]
			if c.Put(to+rest, r.Kind, r.Value, now) {
				changed = true
				written = append(written, to+rest)
			}
			if nr := c.Records[to+rest]; !bytes.Equal(nr.Block, r.Block) {
				nr.Block = append(json.RawMessage(nil), r.Block...)
				changed = true
			}
			if !mv.clone && mv.from != "" {
				drop[k] = true
			}
		}
	}
	for k := range drop {
		delete(c.Records, k)
		changed = true
	}
	sort.Strings(written)
	return written, changed
}

// stampMarkers makes every auth.json of this vault whose marker names no
// home, or another one, name its own home. The caller holds the locks.
func stampMarkers(states []*docState, vaultID string) error {
	for _, st := range states {
		if st.ref.key != "" || hermes.MarkerVaultID(st.doc) != vaultID {
			continue
		}
		want := hermes.ProfileLabel(st.ref.home.Profile)
		if label, ok := hermes.MarkerProfile(st.doc); ok && label == want {
			continue
		}
		err := hermes.UpdateHeld(st.ref.path, func(doc *hermes.Object) (bool, error) {
			if hermes.MarkerVaultID(doc) != vaultID {
				return false, nil
			}
			return hermes.SetMarkerProfile(doc, want), nil
		})
		if err != nil {
			return fmt.Errorf("mark %s as %s's: %w", st.ref.path, want, err)
		}
	}
	return nil
}

// settleMoves carries out the renames and clones states show, in one vault
// write, and stamps the markers. It is for operations that do not write
// the vault otherwise (materialise, unseal).
func (r *Root) settleMoves(ctx context.Context, states []*docState, vaultID string) error {
	moves := profileMoves(states, vaultID)
	if len(moves) > 0 {
		_, err := r.Vault.Update(ctx, func(c *broker.Contents) (bool, error) {
			_, changed := applyMoves(c, moves, r.Now())
			return changed, nil
		})
		if err != nil {
			return err
		}
	}
	return stampMarkers(states, vaultID)
}

// scrubSharedCopies removes the copies of the shared Nous store that a
// clone of the root left inside profile directories
// (profiles/<name>/shared/nous_auth.json: `hermes profile create
// --clone-all` copies the root's shared/ directory, and Hermes never reads
// that copy) when the vault holds the same document: nothing is lost. A
// copy that differs stays, and status and doctor report it.
// c is the vault's contents when the caller has them (nil: read when a
// copy is found).
func (r *Root) scrubSharedCopies(ctx context.Context, c *broker.Contents) error {
	for _, h := range r.Homes {
		if h.Profile == "" {
			continue
		}
		p := SharedCopyPath(h)
		raw, err := hermes.ReadDocumentFile(p)
		if err != nil || raw == nil {
			continue
		}
		if c == nil {
			if c, err = r.Vault.Read(ctx); err != nil {
				return err
			}
		}
		rec := c.Records[hermes.DocSharedNous]
		if rec == nil {
			return nil
		}
		var buf bytes.Buffer
		if json.Compact(&buf, bytes.TrimPrefix(raw, []byte("\ufeff"))) != nil || !bytes.Equal(buf.Bytes(), rec.Value) {
			continue
		}
		if _, err := hermes.RemoveDocumentFile(p, raw); err != nil {
			return fmt.Errorf("remove the copy %s: %w", p, err)
		}
	}
	return nil
}

// SharedCopyPath is where a clone of the root leaves its copy of the
// shared Nous store inside profile h.
func SharedCopyPath(h hermes.Home) string {
	return filepath.Join(h.Dir, "shared", hermes.SharedNousFile)
}

// ScopeState is what the vault holds for a profile whose directory does
// not exist.
type ScopeState struct {
	Profile string   `json:"profile"`
	Records []string `json:"records"`
	// MovedTo names the profile whose skeleton says it was sealed for
	// this one: Hermes renamed the directory, and the next seal or run
	// moves the records there. Empty: the records are orphaned.
	MovedTo string `json:"moved_to,omitempty"`
}

// Orphans lists the profiles the vault holds records of whose directory
// is gone, with where a rename took them, if anywhere. root is any home of
// the root; homes are its existing homes (Profiles()).
func Orphans(c *broker.Contents, root hermes.Home, homes []hermes.Home, vaultID string) []ScopeState {
	byProfile := map[string][]string{}
	for _, k := range c.Keys() {
		rest, ok := strings.CutPrefix(k, "profiles/")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(rest, "/")
		if !ok || root.ProfileDirExists(name) {
			continue
		}
		byProfile[name] = append(byProfile[name], k)
	}
	if len(byProfile) == 0 {
		return nil
	}
	claims := map[string]string{}
	for _, h := range homes {
		doc, err := hermes.ReadDoc(h.AuthPath())
		if err != nil || hermes.MarkerVaultID(doc) != vaultID {
			continue
		}
		if label, ok := hermes.MarkerProfile(doc); ok && label != hermes.ProfileLabel(h.Profile) {
			claims[hermes.ProfileOfLabel(label)] = hermes.ProfileLabel(h.Profile)
		}
	}
	var out []ScopeState
	for name, keys := range byProfile {
		out = append(out, ScopeState{Profile: name, Records: keys, MovedTo: claims[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out
}

// Forget removes every record of profile from the vault, in one verified
// write, and returns the keys removed. It refuses a profile whose
// directory exists (its records are live) or whose skeleton a rename took
// elsewhere (they are about to move): only orphaned records go.
func Forget(ctx context.Context, v Store, root hermes.Home, homes []hermes.Home, profile string, dryRun bool) ([]string, error) {
	if profile == "" {
		return nil, ErrForgetRoot
	}
	if root.ProfileDirExists(profile) {
		return nil, fmt.Errorf("%w: profile %s", ErrProfileExists, profile)
	}
	var removed []string
	change := func(c *broker.Contents) (bool, error) {
		removed = nil
		for _, o := range Orphans(c, root, homes, v.ID()) {
			if o.Profile != profile {
				continue
			}
			if o.MovedTo != "" {
				return false, fmt.Errorf("%w: profile %s was renamed to %s", ErrProfileMoved, profile, o.MovedTo)
			}
			for _, k := range o.Records {
				if !dryRun {
					delete(c.Records, k)
				}
				removed = append(removed, k)
			}
		}
		return len(removed) > 0 && !dryRun, nil
	}
	if dryRun {
		c, err := v.Read(ctx)
		if err != nil {
			return nil, err
		}
		_, err = change(c)
		return removed, err
	}
	if _, err := v.Update(ctx, change); err != nil {
		return nil, err
	}
	return removed, nil
}

// Forget's refusals.
var (
	ErrForgetRoot    = errors.New("the root's records are never orphaned")
	ErrProfileExists = errors.New("the profile's directory exists; its records are live")
	ErrProfileMoved  = errors.New("the profile's records are about to move")
)
