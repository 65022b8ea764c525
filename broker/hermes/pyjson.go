package hermes

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// Style is how a document is written. Both Hermes writers use json.dumps
// with indent=2 (item separator ",", key separator ": "):
//   - the July 2026 writer: ensure_ascii=True and a final newline
//     (StyleJUL);
//   - later writers: ensure_ascii=False and no final newline (StyleLatest,
//     the zero value).
type Style struct {
	// EnsureASCII escapes every character outside printable ASCII as
	// \uXXXX, as Python's ensure_ascii=True does (DEL included).
	EnsureASCII bool
	// TrailingNewline ends the document with "\n".
	TrailingNewline bool
}

// The two styles Hermes has written auth.json in.
var (
	StyleJUL    = Style{EnsureASCII: true, TrailingNewline: true}
	StyleLatest = Style{}
)

// DetectStyle guesses which writer produced data: a final newline means
// the July writer unless the text holds raw non-ASCII characters, which
// only ensure_ascii=False writes.
func DetectStyle(data []byte) Style {
	st := Style{TrailingNewline: bytes.HasSuffix(data, []byte("\n"))}
	nonASCII := false
	for _, c := range data {
		if c >= 0x80 {
			nonASCII = true
			break
		}
	}
	st.EnsureASCII = !nonASCII && (st.TrailingNewline || hasEscapedNonASCII(data))
	return st
}

func hasEscapedNonASCII(b []byte) bool {
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte(`\u`))
		if k < 0 || i+k+6 > len(b) {
			return false
		}
		p := i + k
		// An even number of backslashes before it means it is an escape.
		n := 0
		for q := p - 1; q >= 0 && b[q] == '\\'; q-- {
			n++
		}
		if n%2 == 0 {
			if v, ok := hex4(b[p+2 : p+6]); ok && v >= 0x80 {
				return true
			}
		}
		i = p + 2
	}
}

func hex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// pyWriter re-emits validated JSON the way Python's json.dumps does.
// indent < 0 means compact (Go's separators, for embedding).
type pyWriter struct {
	buf    []byte
	ascii  bool
	indent int // current level; -1 for compact
}

const hexDigits = "0123456789abcdef"

func (w *pyWriter) newline(level int) {
	if w.indent < 0 {
		return
	}
	w.buf = append(w.buf, '\n')
	for i := 0; i < level; i++ {
		w.buf = append(w.buf, ' ', ' ')
	}
}

func (w *pyWriter) keySep() {
	if w.indent < 0 {
		w.buf = append(w.buf, ':')
	} else {
		w.buf = append(w.buf, ':', ' ')
	}
}

func (w *pyWriter) object(o *Object) {
	if len(o.Members) == 0 {
		w.buf = append(w.buf, '{', '}')
		return
	}
	level := w.indent
	w.buf = append(w.buf, '{')
	for i, m := range o.Members {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.newline(level + 1)
		if m.tok != nil && keyEquals(m.tok, m.Key) {
			w.rawString(m.tok)
		} else {
			w.goString(m.Key)
		}
		w.keySep()
		w.value(m.Value, level+1)
	}
	w.newline(level)
	w.buf = append(w.buf, '}')
}

// value writes the validated raw value at nesting level.
func (w *pyWriter) value(raw []byte, level int) {
	i := skipWS(raw, 0)
	w.valueAt(raw, i, level)
}

// valueAt writes the value at raw[i] and returns the index past it.
func (w *pyWriter) valueAt(raw []byte, i, level int) int {
	lvl := level
	if w.indent < 0 {
		lvl = -1
	}
	switch raw[i] {
	case '{', '[':
		open, close := raw[i], byte('}')
		if open == '[' {
			close = ']'
		}
		i = skipWS(raw, i+1)
		if raw[i] == close {
			w.buf = append(w.buf, open, close)
			return i + 1
		}
		if open == '{' {
			return w.objectAt(raw, i, level, lvl)
		}
		w.buf = append(w.buf, open)
		for first := true; ; first = false {
			if !first {
				w.buf = append(w.buf, ',')
			}
			if lvl >= 0 {
				w.newline(lvl + 1)
			}
			i = w.valueAt(raw, i, level+1)
			i = skipWS(raw, i)
			if raw[i] == ',' {
				i = skipWS(raw, i+1)
				continue
			}
			break
		}
		if lvl >= 0 {
			w.newline(lvl)
		}
		w.buf = append(w.buf, close)
		return i + 1
	case '"':
		e := stringEnd(raw, i)
		w.rawString(raw[i:e])
		return e
	default:
		e := valueEnd(raw, i)
		w.buf = append(w.buf, raw[i:e]...)
		return e
	}
}

// span locates one member of a raw object: its key token and its value.
type span struct{ k0, k1, v0, v1 int }

// objectAt writes the non-empty object whose first member starts at
// raw[i] (just past the '{'), applying Python's rule for repeated keys
// (first position, last value), and returns the index past the '}'.
func (w *pyWriter) objectAt(raw []byte, i, level, lvl int) int {
	var stack [16]span
	spans := stack[:0]
	for {
		ke := stringEnd(raw, i)
		j := skipWS(raw, ke)
		j = skipWS(raw, j+1)
		ve := valueEnd(raw, j)
		spans = append(spans, span{i, ke, j, ve})
		i = skipWS(raw, ve)
		if raw[i] == ',' {
			i = skipWS(raw, i+1)
			continue
		}
		break
	}
	spans = dedupeSpans(raw, spans)
	w.buf = append(w.buf, '{')
	for n, sp := range spans {
		if n > 0 {
			w.buf = append(w.buf, ',')
		}
		if lvl >= 0 {
			w.newline(lvl + 1)
		}
		w.rawString(raw[sp.k0:sp.k1])
		w.keySep()
		w.valueAt(raw, sp.v0, level+1)
	}
	if lvl >= 0 {
		w.newline(lvl)
	}
	w.buf = append(w.buf, '}')
	return i + 1
}

// dedupeSpans keeps the first position and the last value of each key.
func dedupeSpans(raw []byte, spans []span) []span {
	same := func(a, b span) bool {
		ka, kb := raw[a.k0:a.k1], raw[b.k0:b.k1]
		if bytes.IndexByte(ka, '\\') < 0 && bytes.IndexByte(kb, '\\') < 0 {
			return bytes.Equal(ka, kb)
		}
		return decodeString(ka) == decodeString(kb)
	}
	if len(spans) > 32 {
		at := make(map[string]int, len(spans))
		out := make([]span, 0, len(spans))
		for _, sp := range spans {
			k := decodeString(raw[sp.k0:sp.k1])
			if i, ok := at[k]; ok {
				out[i].v0, out[i].v1 = sp.v0, sp.v1
				continue
			}
			at[k] = len(out)
			out = append(out, sp)
		}
		return out
	}
	dup := false
	for i := 1; i < len(spans) && !dup; i++ {
		for j := 0; j < i; j++ {
			if same(spans[i], spans[j]) {
				dup = true
				break
			}
		}
	}
	if !dup {
		return spans
	}
	out := make([]span, 0, len(spans))
	for _, sp := range spans {
		merged := false
		for k := range out {
			if same(out[k], sp) {
				out[k].v0, out[k].v1 = sp.v0, sp.v1
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, sp)
		}
	}
	return out
}

// rawString re-encodes a valid JSON string token as Python would, working
// on the token itself so that escapes Go cannot decode exactly (a lone
// surrogate) are kept.
func (w *pyWriter) rawString(tok []byte) {
	w.buf = append(w.buf, '"')
	s := tok[1 : len(tok)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			e := s[i+1]
			if e != 'u' {
				switch e {
				case '/':
					w.buf = append(w.buf, '/')
				default: // " \ b f n r t
					w.buf = append(w.buf, '\\', e)
				}
				i += 2
				continue
			}
			u, _ := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(u) && u < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if lo, ok := hex4(s[i+2 : i+6]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 6
					w.rune(utf16.DecodeRune(u, lo))
					continue
				}
			}
			if utf16.IsSurrogate(u) {
				w.escape(u) // a lone surrogate stays escaped
				continue
			}
			w.rune(u)
		case c < utf8.RuneSelf:
			w.rune(rune(c))
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if w.ascii {
				w.rune(r)
			} else {
				w.buf = append(w.buf, s[i:i+n]...)
			}
			i += n
		}
	}
	w.buf = append(w.buf, '"')
}

// goString encodes a Go string as Python would.
func (w *pyWriter) goString(s string) {
	w.buf = append(w.buf, '"')
	for _, r := range s {
		w.rune(r)
	}
	w.buf = append(w.buf, '"')
}

// rune writes one character as Python's json encoder does.
func (w *pyWriter) rune(r rune) {
	switch r {
	case '"':
		w.buf = append(w.buf, '\\', '"')
		return
	case '\\':
		w.buf = append(w.buf, '\\', '\\')
		return
	case '\n':
		w.buf = append(w.buf, '\\', 'n')
		return
	case '\r':
		w.buf = append(w.buf, '\\', 'r')
		return
	case '\t':
		w.buf = append(w.buf, '\\', 't')
		return
	case '\b':
		w.buf = append(w.buf, '\\', 'b')
		return
	case '\f':
		w.buf = append(w.buf, '\\', 'f')
		return
	}
	switch {
	case r < 0x20:
		w.escape(r)
	case r < 0x7f:
		w.buf = append(w.buf, byte(r))
	case !w.ascii:
		w.buf = utf8.AppendRune(w.buf, r)
	case r > 0xFFFF:
		hi, lo := utf16.EncodeRune(r)
		w.escape(hi)
		w.escape(lo)
	default: // DEL and everything else outside printable ASCII
		w.escape(r)
	}
}

func (w *pyWriter) escape(u rune) {
	w.buf = append(w.buf, '\\', 'u',
		hexDigits[u>>12&0xF], hexDigits[u>>8&0xF], hexDigits[u>>4&0xF], hexDigits[u&0xF])
}
