package hermes

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Limits on what a document may be. Hermes's own stores are a few KB; the
// caps are there so a damaged or hostile file gets a clear refusal instead
// of exhausting memory or the stack.
const (
	// MaxDocSize admits a credential pool of 10,000 Codex-like OAuth
	// entries with 1.5 KB JWTs written with indent=2 (21 MB, see
	// BenchmarkSplit) with room to spare, and refuses a 50 MB file.
	MaxDocSize = 40 << 20
	// MaxDepth is the deepest nesting of arrays and objects accepted.
	// Hermes's documents nest 4 deep.
	MaxDepth = 64
)

// Member is one member of a JSON object: its key and its value exactly as
// it was read (or set).
type Member struct {
	Key   string
	Value json.RawMessage

	// tok is the key's token as read, kept so that a key Go cannot
	// represent exactly (a lone surrogate escape) is written back as read.
	tok []byte
}

// Object is a JSON object that keeps its members in order, so a document
// Hermes wrote, unknown keys included, is written back as Hermes left it.
// As Python's json module does, a key that occurs twice keeps the position
// of its first occurrence and the value of its last.
//
// An Object built by ParseDoc or ParseObject refers to the bytes it was
// parsed from; they must not be modified while it is in use.
type Object struct {
	Members []Member
	// Style is how Marshal writes the object; ParseDoc sets it to the
	// style the document was written in.
	Style Style
}

// ParseDoc parses a whole document: an optional UTF-8 byte order mark,
// then one JSON object. It refuses, with the sentinel errors of this
// package, anything larger than MaxDocSize, nested deeper than MaxDepth,
// not UTF-8, not JSON, or whose top level is not an object.
func ParseDoc(data []byte) (*Object, error) {
	data = bytes.TrimPrefix(data, bom)
	if len(data) > MaxDocSize {
		return nil, fmt.Errorf("%w (%d bytes; the limit is %d)", ErrTooLarge, len(data), MaxDocSize)
	}
	o, err := ParseObject(data)
	if err != nil {
		return nil, err
	}
	o.Style = DetectStyle(data)
	return o, nil
}

// ParseObject parses raw, which must be one JSON object, with the same
// checks as ParseDoc except the size cap and the byte order mark.
func ParseObject(raw []byte) (*Object, error) {
	if err := validate(raw); err != nil {
		return nil, err
	}
	if k := kind(raw); k != '{' {
		return nil, fmt.Errorf("%w (the top level is %s)", ErrNotObject, kindName(k))
	}
	return parseValid(raw), nil
}

// parseValid parses an object already validated.
func parseValid(raw []byte) *Object {
	o := &Object{}
	eachMember(raw, func(k, v []byte) bool {
		o.Members = append(o.Members, Member{Key: decodeString(k), Value: v, tok: k})
		return true
	})
	o.dedupe()
	return o
}

// dedupe applies Python's rule for repeated keys: first position, last
// value.
func (o *Object) dedupe() {
	n := len(o.Members)
	dup := false
	if n <= 32 {
		for i := 1; i < n && !dup; i++ {
			for j := 0; j < i; j++ {
				if o.Members[i].Key == o.Members[j].Key {
					dup = true
					break
				}
			}
		}
	} else {
		seen := make(map[string]struct{}, n)
		for _, m := range o.Members {
			if _, ok := seen[m.Key]; ok {
				dup = true
				break
			}
			seen[m.Key] = struct{}{}
		}
	}
	if !dup {
		return
	}
	at := make(map[string]int, n)
	out := o.Members[:0:0]
	for _, m := range o.Members {
		if i, ok := at[m.Key]; ok {
			out[i].Value = m.Value
			continue
		}
		at[m.Key] = len(out)
		out = append(out, m)
	}
	o.Members = out
}

func kindName(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case 0:
		return "nothing"
	default:
		return "a number"
	}
}

// Index returns the position of the member named key, or -1.
func (o *Object) Index(key string) int {
	if o == nil {
		return -1
	}
	for i := range o.Members {
		if o.Members[i].Key == key {
			return i
		}
	}
	return -1
}

// Get returns the raw value of the member named key.
func (o *Object) Get(key string) (json.RawMessage, bool) {
	if i := o.Index(key); i >= 0 {
		return o.Members[i].Value, true
	}
	return nil, false
}

// GetObject returns the member named key parsed as an object. It returns
// ok false when there is no such member, and an error wrapping
// ErrNotObject when the member is not an object.
func (o *Object) GetObject(key string) (obj *Object, ok bool, err error) {
	v, ok := o.Get(key)
	if !ok {
		return nil, false, nil
	}
	obj, err = ParseObject(v)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", safeName(key), err)
	}
	return obj, true, nil
}

// Set gives the member named key the value raw, in place when the member
// exists, else as a new last member. raw is checked when the object is
// marshalled.
func (o *Object) Set(key string, raw json.RawMessage) {
	if i := o.Index(key); i >= 0 {
		o.Members[i].Value = raw
		return
	}
	o.Members = append(o.Members, Member{Key: key, Value: raw})
}

// Insert adds a member at position i (clamped to the bounds), replacing
// any member of the same key.
func (o *Object) Insert(i int, key string, raw json.RawMessage) {
	o.Delete(key)
	if i < 0 {
		i = 0
	}
	if i > len(o.Members) {
		i = len(o.Members)
	}
	o.Members = append(o.Members, Member{})
	copy(o.Members[i+1:], o.Members[i:])
	o.Members[i] = Member{Key: key, Value: raw}
}

// Delete removes the member named key and reports whether there was one.
func (o *Object) Delete(key string) bool {
	i := o.Index(key)
	if i < 0 {
		return false
	}
	o.Members = append(o.Members[:i], o.Members[i+1:]...)
	return true
}

// Keys returns the member names in order.
func (o *Object) Keys() []string {
	ks := make([]string, len(o.Members))
	for i, m := range o.Members {
		ks[i] = m.Key
	}
	return ks
}

// Clone returns a copy whose member list can be changed without touching
// o. The values themselves are shared; they are never modified in place.
func (o *Object) Clone() *Object {
	if o == nil {
		return &Object{}
	}
	c := &Object{Style: o.Style, Members: make([]Member, len(o.Members))}
	copy(c.Members, o.Members)
	return c
}

// MarshalJSON returns the object compactly, so an Object can be a value
// inside other JSON.
func (o *Object) MarshalJSON() ([]byte, error) {
	return o.marshal(-1, o.Style)
}

// Marshal returns the document as Hermes writes it: json.dumps with
// indent=2, ASCII-escaped or not and with or without a final newline as o.Style
// says. It fails, writing nothing, if any value is not valid JSON.
func (o *Object) Marshal() ([]byte, error) {
	return o.marshal(0, o.Style)
}

func (o *Object) marshal(indent int, st Style) ([]byte, error) {
	size := 2
	for _, m := range o.Members {
		if err := validate(m.Value); err != nil {
			return nil, fmt.Errorf("member %s: %w", safeName(m.Key), err)
		}
		size += len(m.Key) + len(m.Value) + 8
	}
	w := pyWriter{buf: make([]byte, 0, size+size/4), ascii: st.EnsureASCII, indent: indent}
	w.object(o)
	if indent >= 0 && st.TrailingNewline {
		w.buf = append(w.buf, '\n')
	}
	return w.buf, nil
}
