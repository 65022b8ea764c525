package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Record keys. A key is a scope ("" for the root home, "profiles/<name>/"
// for a profile) followed by one of:
//
//	providers/<id>            a whole provider block of auth.json
//	pool/<provider>/<id>      a whole credential_pool entry
//	file/<name>               a whole secret document (file/.anthropic_oauth.json,
//	                          file/shared/nous_auth.json); REF doc:<name>
//	env/<NAME>                one secret of .env
const (
	KindProvider = "provider"
	KindPool     = "pool"
	KindDocument = "document"
	KindEnv      = "env"
)

// ErrBadRef means a REF argument does not parse.
var ErrBadRef = errors.New("bad reference")

// Scope returns the key prefix of a profile ("" for the root).
func Scope(profile string) string {
	if profile == "" {
		return ""
	}
	return "profiles/" + profile + "/"
}

// Ref is a parsed REF of the command line.
type Ref struct {
	// Key is the record key without scope, e.g. "providers/openai-codex".
	Key string
	// Path is the JSON path inside the record, e.g. ["tokens","access_token"].
	Path []string
}

// The REF grammar is checked with plain loops, not regular expressions:
// ParseRef is on the path of every `get`, and compiling even one pattern
// costs a fifth of a millisecond there (issue 12). ref_test.go checks each
// against the pattern it replaces.

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// allOf: s is non-empty, its first byte passes first and the rest pass rest.
func allOf(s string, first, rest func(byte) bool) bool {
	if s == "" || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

// IsEnvName reports whether s is a shell variable name,
// ^[A-Za-z_][A-Za-z0-9_]*$: the names env: records and `env` output may use.
func IsEnvName(s string) bool {
	return allOf(s, func(c byte) bool { return c == '_' || isAlnum(c) && (c < '0' || c > '9') },
		func(c byte) bool { return c == '_' || isAlnum(c) })
}

// idChars: ^[A-Za-z0-9][A-Za-z0-9_\-:@]*$
func idChars(s string) bool {
	return allOf(s, isAlnum, func(c byte) bool { return isAlnum(c) || strings.IndexByte("_-:@", c) >= 0 })
}

// poolPart: ^[A-Za-z0-9][A-Za-z0-9_\-]*/[A-Za-z0-9_\-:@.]+$
func poolPart(s string) bool {
	provider, entry, ok := strings.Cut(s, "/")
	return ok &&
		allOf(provider, isAlnum, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }) &&
		allOf(entry, func(c byte) bool { return isAlnum(c) || strings.IndexByte("_-:@.", c) >= 0 },
			func(c byte) bool { return isAlnum(c) || strings.IndexByte("_-:@.", c) >= 0 })
}

// ParseRef parses `openai-codex`, `openai-codex.tokens.access_token`,
// `pool:anthropic/0a1b2c` and `env:OPENROUTER_API_KEY`.
func ParseRef(s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s", ErrBadRef, s, why)
	}
	switch {
	case strings.HasPrefix(s, "env:"):
		name := strings.TrimPrefix(s, "env:")
		if !IsEnvName(name) {
			return bad("not an environment variable name")
		}
		return Ref{Key: "env/" + name}, nil
	case strings.HasPrefix(s, "pool:"):
		rest := strings.TrimPrefix(s, "pool:")
		id, path, _ := strings.Cut(rest, ".")
		if !poolPart(id) {
			return bad("want pool:<provider>/<entry id>")
		}
		r := Ref{Key: "pool/" + id}
		if path != "" {
			r.Path = strings.Split(path, ".")
		}
		return r, nil
	case strings.HasPrefix(s, "doc:"):
		name := strings.TrimPrefix(s, "doc:")
		if name == "" || strings.Contains(name, "..") {
			return bad("want doc:<file name>")
		}
		// Document names end in .json; what follows is a path inside.
		r := Ref{}
		if i := strings.Index(name, ".json."); i >= 0 {
			name, r.Path = name[:i+len(".json")], strings.Split(name[i+len(".json."):], ".")
		}
		r.Key = "file/" + name
		return r, nil
	}
	id, path, _ := strings.Cut(s, ".")
	if !idChars(id) {
		return bad("want a provider id, pool:<provider>/<id> or env:<NAME>")
	}
	r := Ref{Key: "providers/" + id}
	if path != "" {
		r.Path = strings.Split(path, ".")
		for _, p := range r.Path {
			if p == "" {
				return bad("empty path element")
			}
		}
	}
	return r, nil
}

// Lookup finds ref in c, in the profile's scope first and then the root's
// (Hermes reads the root as a fallback for a profile's auth.json blocks).
// An env: record is the profile's own only: Hermes loads a profile's .env
// and never the root's.
func (c *Contents) Lookup(profile string, ref Ref) (key string, rec *Record, err error) {
	for _, scope := range []string{Scope(profile), ""} {
		if r := c.Records[scope+ref.Key]; r != nil {
			return scope + ref.Key, r, nil
		}
		if profile == "" || strings.HasPrefix(ref.Key, "env/") {
			break
		}
	}
	return "", nil, fmt.Errorf("%s: %w", ref.Key, ErrNotFound)
}

// Extract follows path inside a JSON value.
func Extract(v json.RawMessage, path []string) (json.RawMessage, error) {
	cur := v
	for i, p := range path {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return nil, fmt.Errorf("%s: %w (not an object)", strings.Join(path[:i], "."), ErrNotFound)
		}
		next, ok := obj[p]
		if !ok {
			return nil, fmt.Errorf("%s: %w", strings.Join(path[:i+1], "."), ErrNotFound)
		}
		cur = next
	}
	return cur, nil
}

// EnvRecords returns NAME -> value of profile's own env records: exactly
// the keys Hermes would load from that home's .env. A profile never sees
// the root's (Hermes loads only <profile>/.env).
func (c *Contents) EnvRecords(profile string) (map[string]string, error) {
	out := map[string]string{}
	prefix := Scope(profile) + "env/"
	for k, r := range c.Records {
		name, ok := strings.CutPrefix(k, prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		var s string
		if err := json.Unmarshal(r.Value, &s); err != nil {
			return nil, fmt.Errorf("%s: env record is not a string", k)
		}
		out[name] = s
	}
	return out, nil
}
