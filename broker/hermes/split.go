package hermes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says where a sealed block came from.
type Kind string

// Block kinds.
const (
	// KindProvider is providers.<id>, a provider's whole OAuth state.
	KindProvider Kind = "provider"
	// KindSystem is systems.<id> of the legacy (February 2026) format.
	KindSystem Kind = "system"
	// KindPoolEntry is one entry of credential_pool.<pool>.
	KindPoolEntry Kind = "pool-entry"
	// KindPool is a whole credential_pool.<pool> that is not a list.
	KindPool Kind = "pool"
	// KindMember is any other top-level member that holds a secret.
	KindMember Kind = "member"
	// KindDocument is a whole file (shared/nous_auth.json,
	// .anthropic_oauth.json).
	KindDocument Kind = "document"
)

// Containers of a Hermes store.
const (
	keyProviders = "providers"
	keyPool      = "credential_pool"
	keySystems   = "systems"
)

// MarkerKey is the top-level member a sealed store carries. Hermes keeps
// unknown top-level members, so the marker survives Hermes's own saves.
const MarkerKey = "hermes_keys"

// DefaultRun is how the marker tells the user to run Hermes.
const DefaultRun = "hermes-keys run -- hermes"

// derivedSource maps a provider to the pool source Hermes derives from
// its singleton state and keeps in sync with it in both directions
// (_seed_from_singletons, _sync_device_code_entry_to_auth_store). The
// anthropic hermes_pkce entry is seeded from .anthropic_oauth.json. These
// are the sources whose raw secrets Hermes persists
// (_PERSISTABLE_PROVIDER_SOURCES).
// (A switch, not a map: no work at start-up.)
func derivedSource(provider string) string {
	switch provider {
	case "nous", "openai-codex", "xai-oauth":
		return "device_code"
	case "minimax-oauth":
		return "oauth"
	case "anthropic":
		return "hermes_pkce"
	}
	return ""
}

// Block is a sealed piece of a Hermes document: a whole provider block, a
// whole pool entry, or a whole file. Never half of one.
type Block struct {
	// Key names the block uniquely within its document:
	// providers/<id>, systems/<id>, pool/<pool>/<entry id> (pool/<pool>/#<index>
	// for an entry without a usable id), pool/<pool>, member/<key>, or the
	// document's key (DocSharedNous, DocAnthropicOAuth).
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	// Name is the provider id, pool name, member key or file.
	Name string `json:"name"`
	// ID and Source are a pool entry's id (when no other entry of its pool
	// has the same one) and source.
	ID     string `json:"id,omitempty"`
	Source string `json:"source,omitempty"`
	// Index is the block's position in its container when it was sealed;
	// Merge puts it back there when it can.
	Index int `json:"index"`
	// Group links blocks that Hermes keeps in sync and that must be sealed
	// and materialised together: a provider block, the pool entries Hermes
	// derives from it, and across files shared/nous_auth.json (group
	// "nous") and .anthropic_oauth.json (group "anthropic").
	Group string `json:"group,omitempty"`
	// Value is the block itself: a provider block, a pool entry, or a
	// whole document, as read.
	Value json.RawMessage `json:"value"`
	// Secrets lists the secret places in Value and their sizes.
	Secrets []SecretField `json:"secrets"`
	// Expires is when the credential expires, when its metadata or its
	// access token (a JWT's exp) says; ExpiresFrom names the field.
	Expires     time.Time `json:"expires,omitzero"`
	ExpiresFrom string    `json:"expires_from,omitempty"`
	// Style is how a whole document was written (documents only).
	Style *Style `json:"style,omitempty"`
}

// String describes the block without its value, so a block printed by
// mistake shows no secret.
func (b Block) String() string {
	n, size := 0, 0
	for _, s := range b.Secrets {
		n++
		size += s.Size
	}
	return fmt.Sprintf("%s (%s, %d secret fields, %d bytes)", safeKey(b.Key), b.Kind, n, size)
}

// GoString is String, for %#v.
func (b Block) GoString() string { return "hermes.Block{" + b.String() + "}" }

// Marker is what the sealed store's top-level hermes_keys member says.
type Marker struct {
	VaultID  string
	SealedAt time.Time
	// Run is the command that runs Hermes with its tokens; DefaultRun
	// when empty.
	Run string
	// Profile is the home the skeleton was sealed for ("default" for the
	// root; "" leaves it out): a skeleton found in another profile's
	// directory was renamed or cloned there by Hermes (see MarkerProfile).
	Profile string
}

func (m Marker) raw() json.RawMessage {
	run := m.Run
	if run == "" {
		run = DefaultRun
	}
	b, _ := json.Marshal(struct {
		Sealed   bool   `json:"sealed"`
		VaultID  string `json:"vault_id"`
		SealedAt string `json:"sealed_at"`
		Run      string `json:"run"`
		Profile  string `json:"profile,omitempty"`
	}{true, m.VaultID, m.SealedAt.UTC().Format(time.RFC3339), run, m.Profile})
	return b
}

// Split divides an auth.json document into the skeleton that stays in the
// file and the blocks that go to the vault:
//   - each provider block (providers.<id>, legacy systems.<id>) and each
//     pool entry (credential_pool.<pool>[i]) that holds a secret by
//     Hermes's classifier is sealed whole; borrowed pool entries that only
//     carry a secret_fingerprint stay;
//   - a provider block and the pool entries Hermes derives from it
//     (device_code for nous, openai-codex and xai-oauth, oauth for
//     minimax-oauth; hermes_pkce entries of anthropic with each other) are
//     sealed together when any of them holds a secret, so the file never
//     keeps half of a pair Hermes would re-sync from the other half;
//   - any other top-level member holding a secret is sealed whole, so the
//     skeleton holds no secret at all;
//   - containers stay, even when emptied, and keep their position.
//
// When anything is sealed the skeleton gets the hermes_keys marker (in the
// place of an existing one, else last). doc is not modified.
func Split(doc *Object, m Marker) (*Object, []Block, error) {
	for _, mem := range doc.Members {
		if err := validate(mem.Value); err != nil {
			return nil, nil, fmt.Errorf("member %s: %w", safeName(mem.Key), err)
		}
	}
	sk := doc.Clone()
	var blocks []Block

	// Candidates, before group closure.
	type cand struct {
		kind                     Kind
		container, name, id, src string
		index                    int
		group                    string
		raw                      []byte
		secret                   bool
		underSecretKey           bool // the value sits under a secret-shaped key
	}
	var cands []cand
	sealedGroups := map[string]bool{}
	add := func(c cand) {
		if c.secret && c.group != "" {
			sealedGroups[c.group] = true
		}
		cands = append(cands, c)
	}

	for ti, mem := range sk.Members {
		switch {
		case (mem.Key == keyProviders || mem.Key == keySystems) && kind(mem.Value) == '{':
			k := KindProvider
			if mem.Key == keySystems {
				k = KindSystem
			}
			for i, pm := range parseValid(mem.Value).Members {
				u := IsSecretKey(pm.Key)
				c := cand{kind: k, container: mem.Key, name: pm.Key, index: i, raw: pm.Value, secret: hasSecretAt(u, pm.Value), underSecretKey: u}
				if k == KindProvider && derivedSource(pm.Key) != "" {
					c.group = pm.Key
				}
				if k == KindSystem && pm.Key == "nous_portal" {
					c.group = "nous"
				}
				add(c)
			}
		case mem.Key == keyPool && kind(mem.Value) == '{':
			for i, pm := range parseValid(mem.Value).Members {
				u := IsSecretKey(pm.Key)
				if kind(pm.Value) != '[' {
					add(cand{kind: KindPool, container: keyPool, name: pm.Key, index: i, raw: pm.Value, secret: hasSecretAt(u, pm.Value), underSecretKey: u})
					continue
				}
				// An id names an entry only when no other entry of the pool
				// has it.
				ids := map[string]int{}
				eachElement(pm.Value, func(_ int, e []byte) bool {
					id, _ := lookupString(e, "id")
					ids[id]++
					return true
				})
				eachElement(pm.Value, func(j int, e []byte) bool {
					c := cand{kind: KindPoolEntry, container: keyPool, name: pm.Key, index: j, raw: e, secret: hasSecretAt(u, e), underSecretKey: u}
					if id, _ := lookupString(e, "id"); ids[id] == 1 {
						c.id = id
					}
					c.src, _ = lookupString(e, "source")
					if s := derivedSource(pm.Key); s != "" && s == c.src {
						c.group = pm.Key
					}
					add(c)
					return true
				})
			}
		default:
			u := IsSecretKey(mem.Key)
			add(cand{kind: KindMember, name: mem.Key, index: ti, raw: mem.Value, secret: hasSecretAt(u, mem.Value), underSecretKey: u})
		}
	}

	// Which candidates leave the file.
	sealed := make([]bool, len(cands))
	anySealed := false
	for i, c := range cands {
		sealed[i] = c.secret || (c.group != "" && sealedGroups[c.group])
		anySealed = anySealed || sealed[i]
	}
	if !anySealed {
		return sk, nil, nil
	}

	// Rebuild the containers from what stays.
	keep := map[string]*Object{}            // providers, systems, credential_pool
	pools := map[string][]json.RawMessage{} // pool name -> kept entries
	for i, c := range cands {
		if sealed[i] {
			continue
		}
		switch c.kind {
		case KindProvider, KindSystem, KindPool:
			if keep[c.container] == nil {
				keep[c.container] = &Object{}
			}
			keep[c.container].Members = append(keep[c.container].Members, Member{Key: c.name, Value: c.raw})
		case KindPoolEntry:
			pools[c.name] = append(pools[c.name], c.raw)
		}
	}
	seen := map[string]int{}
	var out []Member
	for _, mem := range sk.Members {
		switch {
		case (mem.Key == keyProviders || mem.Key == keySystems) && kind(mem.Value) == '{':
			mem.Value = compactObject(keep[mem.Key])
		case mem.Key == keyPool && kind(mem.Value) == '{':
			kept := &Object{}
			for _, pm := range parseValid(mem.Value).Members {
				if kind(pm.Value) == '[' {
					kept.Members = append(kept.Members, Member{Key: pm.Key, Value: joinArray(pools[pm.Key])})
				} else if v, ok := keep[keyPool].Get(pm.Key); ok {
					kept.Members = append(kept.Members, Member{Key: pm.Key, Value: v})
				}
			}
			mem.Value = compactObject(kept)
		}
		out = append(out, mem)
	}

	for i, c := range cands {
		if !sealed[i] {
			continue
		}
		b := Block{Kind: c.kind, Name: c.name, ID: c.id, Source: c.src, Index: c.index, Group: c.group,
			Value: append(json.RawMessage(nil), trimValue(c.raw)...)}
		var place string
		switch c.kind {
		case KindProvider, KindSystem:
			b.Key = c.container + "/" + c.name
			place = c.container + "." + safeName(c.name)
		case KindPool:
			b.Key = "pool/" + c.name
			place = keyPool + "." + safeName(c.name)
		case KindPoolEntry:
			idKey := c.id
			if idKey == "" || strings.ContainsAny(idKey, "/#") {
				idKey = "#" + strconv.Itoa(c.index)
			}
			b.Key = "pool/" + c.name + "/" + idKey
			if c.id != "" && safeName(c.id) == c.id {
				place = keyPool + "." + safeName(c.name) + "[id=" + c.id + "]"
			} else {
				place = keyPool + "." + safeName(c.name) + "[" + strconv.Itoa(c.index) + "]"
			}
		case KindMember:
			b.Key = "member/" + c.name
			place = safeName(c.name)
		}
		if n := seen[b.Key]; n > 0 {
			seen[b.Key] = n + 1
			b.Key += "#" + strconv.Itoa(n)
		} else {
			seen[b.Key] = 1
		}
		b.Secrets = secretFieldsAt(place, c.underSecretKey, b.Value)
		if kind(b.Value) == '{' {
			b.Expires, b.ExpiresFrom = expiryOf(b.Value)
		}
		blocks = append(blocks, b)
	}

	// Sealed top-level members leave the skeleton.
	drop := map[string]bool{}
	for i, c := range cands {
		if sealed[i] && c.kind == KindMember {
			drop[c.name] = true
		}
	}
	final := out[:0]
	for _, mem := range out {
		if !drop[mem.Key] {
			final = append(final, mem)
		}
	}
	sk.Members = final
	sk.Set(MarkerKey, m.raw())
	return sk, blocks, nil
}

// compactObject marshals o compactly; nil is the empty object.
func compactObject(o *Object) json.RawMessage {
	if o == nil || len(o.Members) == 0 {
		return json.RawMessage("{}")
	}
	n := 2
	for _, m := range o.Members {
		n += len(m.Key) + len(m.Value) + 4
	}
	w := pyWriter{indent: -1, buf: make([]byte, 0, n)}
	w.object(o)
	return w.buf
}

// joinArray makes a JSON array of raw elements.
func joinArray(elems []json.RawMessage) json.RawMessage {
	n := 2
	for _, e := range elems {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}
