package hermes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// MergeReport says what Merge did with each block, by key.
type MergeReport struct {
	// Restored: put back into the document.
	Restored []string
	// Kept: left out because the document already has the block, or
	// another member of its group. The file is the truth: it may hold a
	// newer token that Hermes rotated since the block was sealed.
	Kept []string
}

// Merge puts sealed blocks back into an auth.json document where it lacks
// them, and changes nothing else: every member the document has stays as
// it is, the marker included. A block goes back to the position it was
// sealed from when it can. Blocks of one group go back together or not
// at all: if the document holds any member of a group (a provider block,
// or a pool entry of the source Hermes derives from it), none of that
// group's blocks is restored.
//
// Whole documents (KindDocument) are not merged; see MaterializeDocument.
// doc is not modified.
func Merge(doc *Object, blocks []Block) (*Object, MergeReport, error) {
	var rep MergeReport
	out := doc.Clone()
	for _, b := range blocks {
		if b.Kind == KindDocument {
			return nil, rep, fmt.Errorf("block %s: %w: a whole document cannot be merged into auth.json", safeKey(b.Key), ErrShape)
		}
		if err := validate(b.Value); err != nil {
			return nil, rep, fmt.Errorf("block %s: %w", safeKey(b.Key), err)
		}
	}

	// Decide first, against the document as it is.
	groupPresent := map[string]bool{}
	for _, b := range blocks {
		if b.Group != "" {
			if _, done := groupPresent[b.Group]; !done {
				groupPresent[b.Group] = hasGroup(out, b.Group)
			}
		}
	}
	entries := poolIndex{doc: out}
	var restore []Block
	for _, b := range blocks {
		present := false
		switch {
		case b.Group != "" && groupPresent[b.Group]:
			present = true
		case b.Kind == KindProvider, b.Kind == KindSystem:
			present = hasMember(out, containerOf(b.Kind), b.Name)
		case b.Kind == KindPool:
			present = hasMember(out, keyPool, b.Name)
		case b.Kind == KindPoolEntry:
			present = entries.has(b)
		case b.Kind == KindMember:
			present = out.Index(b.Name) >= 0
		default:
			return nil, rep, fmt.Errorf("block %s: %w: unknown kind", safeKey(b.Key), ErrShape)
		}
		if present {
			rep.Kept = append(rep.Kept, b.Key)
		} else {
			restore = append(restore, b)
			rep.Restored = append(rep.Restored, b.Key)
		}
	}
	if len(restore) == 0 {
		return out, rep, nil
	}
	sort.SliceStable(restore, func(i, j int) bool { return restore[i].Index < restore[j].Index })

	// Top-level members first: their indexes are top-level positions.
	for _, b := range restore {
		if b.Kind == KindMember {
			out.Insert(b.Index, b.Name, b.Value)
		}
	}
	for _, container := range []string{keyProviders, keySystems} {
		var mine []Block
		for _, b := range restore {
			if (b.Kind == KindProvider || b.Kind == KindSystem) && containerOf(b.Kind) == container {
				mine = append(mine, b)
			}
		}
		if len(mine) == 0 {
			continue
		}
		obj, err := containerObject(out, container)
		if err != nil {
			return nil, rep, err
		}
		for _, b := range mine {
			obj.Insert(b.Index, b.Name, b.Value)
		}
		setContainer(out, container, compactObject(obj))
	}

	var poolBlocks []Block
	for _, b := range restore {
		if b.Kind == KindPool || b.Kind == KindPoolEntry {
			poolBlocks = append(poolBlocks, b)
		}
	}
	if len(poolBlocks) > 0 {
		pool, err := containerObject(out, keyPool)
		if err != nil {
			return nil, rep, err
		}
		for _, b := range poolBlocks {
			if b.Kind == KindPool {
				pool.Insert(b.Index, b.Name, b.Value)
			}
		}
		byPool := map[string][]Block{}
		var names []string
		for _, b := range poolBlocks {
			if b.Kind == KindPoolEntry {
				if byPool[b.Name] == nil {
					names = append(names, b.Name)
				}
				byPool[b.Name] = append(byPool[b.Name], b)
			}
		}
		for _, name := range names {
			var elems []json.RawMessage
			if v, ok := pool.Get(name); ok {
				if kind(v) != '[' {
					return nil, rep, fmt.Errorf("%s.%s is %s, not a list: %w", keyPool, safeName(name), kindName(kind(v)), ErrShape)
				}
				eachElement(v, func(_ int, e []byte) bool {
					elems = append(elems, e)
					return true
				})
			}
			for _, b := range byPool[name] {
				i := min(max(b.Index, 0), len(elems))
				elems = append(elems, nil)
				copy(elems[i+1:], elems[i:])
				elems[i] = b.Value
			}
			pool.Set(name, joinArray(elems))
		}
		setContainer(out, keyPool, compactObject(pool))
	}
	return out, rep, nil
}

// Unseal is Merge followed by removing the hermes_keys marker: the way
// back to a plain Hermes store.
func Unseal(doc *Object, blocks []Block) (*Object, MergeReport, error) {
	out, rep, err := Merge(doc, blocks)
	if err != nil {
		return nil, rep, err
	}
	out.Delete(MarkerKey)
	return out, rep, nil
}

func containerOf(k Kind) string {
	if k == KindSystem {
		return keySystems
	}
	return keyProviders
}

// containerObject returns the container member of doc parsed, or a new
// empty one when doc lacks it.
func containerObject(doc *Object, name string) (*Object, error) {
	v, ok := doc.Get(name)
	if !ok {
		return &Object{}, nil
	}
	if kind(v) != '{' {
		return nil, fmt.Errorf("%s is %s, not an object: %w", name, kindName(kind(v)), ErrShape)
	}
	return parseValid(v), nil
}

// setContainer sets a container member; a new one goes before the marker,
// else last.
func setContainer(doc *Object, name string, v json.RawMessage) {
	if doc.Index(name) >= 0 {
		doc.Set(name, v)
		return
	}
	if i := doc.Index(MarkerKey); i >= 0 {
		doc.Insert(i, name, v)
		return
	}
	doc.Set(name, v)
}

func hasMember(doc *Object, container, name string) bool {
	v, ok := doc.Get(container)
	if !ok {
		return false
	}
	_, found := lookup(v, name)
	return found
}

// poolIndex answers "does the document have this pool entry" for many
// blocks with one pass over each pool: an entry with the block's id, or
// (for an entry without a usable id) an entry equal to it.
type poolIndex struct {
	doc   *Object
	ids   map[string]map[string]bool // pool -> ids
	whole map[string]map[string]bool // pool -> compact entries, built on demand
}

func (x *poolIndex) has(b Block) bool {
	if x.ids == nil {
		x.ids, x.whole = map[string]map[string]bool{}, map[string]map[string]bool{}
	}
	if b.ID != "" {
		ids, ok := x.ids[b.Name]
		if !ok {
			ids = map[string]bool{}
			x.each(b.Name, func(e []byte) {
				if id, ok := lookupString(e, "id"); ok {
					ids[id] = true
				}
			})
			x.ids[b.Name] = ids
		}
		return ids[b.ID]
	}
	whole, ok := x.whole[b.Name]
	if !ok {
		whole = map[string]bool{}
		x.each(b.Name, func(e []byte) { whole[string(compactBytes(e))] = true })
		x.whole[b.Name] = whole
	}
	return whole[string(compactBytes(b.Value))]
}

func (x *poolIndex) each(pool string, fn func(e []byte)) {
	v, ok := x.doc.Get(keyPool)
	if !ok {
		return
	}
	arr, ok := lookup(v, pool)
	if !ok {
		return
	}
	eachElement(arr, func(_ int, e []byte) bool {
		fn(e)
		return true
	})
}

// hasGroup: the document holds some member of the group: the provider
// block (or, for nous, the legacy systems.nous_portal), or a pool entry of
// the derived source.
func hasGroup(doc *Object, group string) bool {
	if hasMember(doc, keyProviders, group) {
		return true
	}
	if group == "nous" && hasMember(doc, keySystems, "nous_portal") {
		return true
	}
	src := derivedSource(group)
	if src == "" {
		return false
	}
	v, ok := doc.Get(keyPool)
	if !ok {
		return false
	}
	arr, ok := lookup(v, group)
	if !ok {
		return false
	}
	found := false
	eachElement(arr, func(_ int, e []byte) bool {
		s, _ := lookupString(e, "source")
		found = s == src
		return !found
	})
	return found
}

func compactBytes(raw []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// safeKey is a block key fit for a message.
func safeKey(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '#') {
			return fmt.Sprintf("(key of %d bytes)", len(k))
		}
	}
	if len(k) > 128 {
		return fmt.Sprintf("(key of %d bytes)", len(k))
	}
	return k
}
