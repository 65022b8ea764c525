package hermes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Low-level helpers over raw JSON bytes. Except for checkDepth and
// validate, they assume input that validate has accepted.

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string token that opens at
// b[i] == '"', or len(b) when it never closes.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) && !isWS(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		return j
	}
}

// trimValue returns raw without surrounding whitespace.
func trimValue(raw []byte) []byte {
	i := skipWS(raw, 0)
	j := len(raw)
	for j > i && isWS(raw[j-1]) {
		j--
	}
	return raw[i:j]
}

// eachMember calls fn with each member's raw key token (quotes included)
// and raw value of the object raw, until fn returns false. It does nothing
// when raw is not an object.
func eachMember(raw []byte, fn func(key, val []byte) bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return
	}
	i = skipWS(raw, i+1)
	for i < len(raw) && raw[i] == '"' {
		ke := stringEnd(raw, i)
		key := raw[i:ke]
		i = skipWS(raw, ke)
		i = skipWS(raw, i+1) // ':'
		ve := valueEnd(raw, i)
		if !fn(key, raw[i:ve]) {
			return
		}
		i = skipWS(raw, ve)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
}

// eachElement calls fn with each element of the array raw, with its index,
// until fn returns false. It does nothing when raw is not an array.
func eachElement(raw []byte, fn func(i int, val []byte) bool) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i = skipWS(raw, i+1)
	for n := 0; i < len(raw) && raw[i] != ']'; n++ {
		ve := valueEnd(raw, i)
		if !fn(n, raw[i:ve]) {
			return
		}
		i = skipWS(raw, ve)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
}

// kind returns the first byte of a trimmed raw value: '{', '[', '"', 'n'
// (null), 't', 'f', or a number's first byte; 0 for nothing.
func kind(raw []byte) byte {
	i := skipWS(raw, 0)
	if i >= len(raw) {
		return 0
	}
	return raw[i]
}

// keyEquals reports whether the raw key token decodes to name, without
// allocating in the common case of a key without escapes.
func keyEquals(tok []byte, name string) bool {
	if bytes.IndexByte(tok, '\\') < 0 {
		return len(tok) == len(name)+2 && string(tok[1:len(tok)-1]) == name
	}
	return decodeString(tok) == name
}

// decodeString decodes a raw string token. Invalid input gives "".
func decodeString(tok []byte) string {
	tok = trimValue(tok)
	if len(tok) < 2 || tok[0] != '"' {
		return ""
	}
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return ""
	}
	return s
}

// stringLen is the length in bytes of a raw string token once decoded.
func stringLen(tok []byte) int {
	if bytes.IndexByte(tok, '\\') < 0 {
		return len(tok) - 2
	}
	return len(decodeString(tok))
}

// lookup returns the raw value of the last member named name in the object
// raw (the one Python's json keeps).
func lookup(raw []byte, name string) ([]byte, bool) {
	var out []byte
	found := false
	eachMember(raw, func(k, v []byte) bool {
		if keyEquals(k, name) {
			out, found = v, true
		}
		return true
	})
	return out, found
}

// lookupString returns the member name of the object raw when it is a
// string.
func lookupString(raw []byte, name string) (string, bool) {
	v, ok := lookup(raw, name)
	if !ok || kind(v) != '"' {
		return "", false
	}
	return decodeString(v), true
}

// checkDepth refuses input nested deeper than max. It tolerates invalid
// JSON: it only counts brackets outside strings.
func checkDepth(b []byte, max int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			depth++
			if depth > max {
				return fmt.Errorf("%w (more than %d levels at byte offset %d)", ErrTooDeep, max, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// validate checks that b is one complete JSON value of UTF-8 text, nested
// at most MaxDepth deep. Its errors name byte offsets, never content.
func validate(b []byte) error {
	if len(trimValue(b)) == 0 {
		return ErrEmpty
	}
	if err := checkDepth(b, MaxDepth); err != nil {
		return err
	}
	if !json.Valid(b) {
		var v struct{}
		err := json.Unmarshal(b, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			end := len(b)
			for end > 0 && isWS(b[end-1]) {
				end--
			}
			if se.Offset >= int64(end) || se.Error() == "unexpected end of JSON input" {
				return fmt.Errorf("%w at byte offset %d", ErrTruncated, se.Offset)
			}
			return fmt.Errorf("%w: syntax error at byte offset %d", ErrCorrupt, se.Offset)
		}
		return ErrCorrupt
	}
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return fmt.Errorf("%w at byte offset %d", ErrInvalidUTF8, off)
	}
	return nil
}
