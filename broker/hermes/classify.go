package hermes

import (
	"strconv"
	"strings"
	"unicode"
)

// Hermes's classifier of secret-shaped keys (agent/credential_persistence.py:
// _is_secret_payload_key, since #31416): a key is normalised (surrounding
// whitespace stripped, an underscore put at each lower-or-digit→upper
// boundary, lowercased, "-" and "." made "_"); exempt metadata names are
// never secret; exact names and suffixes are. The lists are switches, not
// maps, so that they cost nothing at start-up.

// isExemptName: metadata names that are never secret.
func isExemptName(n string) bool {
	switch n {
	case "secret_fingerprint", "secret_source", "token_type", "scope", "client_id",
		"agent_key_id", "agent_key_expires_at", "agent_key_expires_in",
		"agent_key_reused", "agent_key_obtained_at", "expires_at", "expires_at_ms",
		"expires_in", "last_refresh", "last_status", "last_status_at",
		"last_error_code", "last_error_reason", "last_error_message",
		"last_error_reset_at":
		return true
	}
	return false
}

// isExactSecretName: names that are secret as they are.
func isExactSecretName(n string) bool {
	switch n {
	case "access_token", "refresh_token", "agent_key", "api_key", "apikey",
		"api_token", "auth_token", "authorization", "bearer_token",
		"client_secret", "credential", "credentials", "id_token", "oauth_token",
		"private_key", "secret_key", "session_token", "password", "secret",
		"token", "tokens":
		return true
	}
	return false
}

// secretSuffixes is static data (a slice of constant strings needs no code
// at init).
var secretSuffixes = []string{
	"_api_key", "_api_token", "_access_token", "_auth_token",
	"_refresh_token", "_bearer_token", "_client_secret", "_id_token",
	"_oauth_token", "_private_key", "_session_token", "_secret_key",
	"_password", "_secret", "_token", "_key",
}

// NormalizeKey is Hermes's key normalisation: accessToken → access_token,
// client-secret → client_secret, API.Key → api_key.
func NormalizeKey(name string) string {
	name = strings.TrimFunc(name, isPySpace)
	var b strings.Builder
	b.Grow(len(name) + 4)
	var prev rune = -1
	for _, r := range name {
		if r >= 'A' && r <= 'Z' && prev >= 0 && (prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9') {
			b.WriteByte('_')
		}
		prev = r
		switch r {
		case '-', '.':
			b.WriteByte('_')
		default:
			b.WriteString(strings.ToLower(string(r)))
		}
	}
	return b.String()
}

// IsSecretKey reports whether Hermes treats a JSON key of this name as
// holding a secret.
func IsSecretKey(name string) bool {
	if isPlainLowerKey(name) {
		return classifyNormalized(name)
	}
	return classifyNormalized(NormalizeKey(name))
}

// isPlainLowerKey: names NormalizeKey would return unchanged (the common
// case: Hermes's own keys), so no allocation is needed.
func isPlainLowerKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func classifyNormalized(n string) bool {
	if n == "" || isExemptName(n) {
		return false
	}
	if isExactSecretName(n) {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// isPySpace is Python's str.isspace for one character: Unicode white space
// plus the separators U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// SecretField is a place holding a secret and the size of its value in
// bytes. It never holds the value.
type SecretField struct {
	Path string `json:"path"`
	Size int    `json:"size"`
}

// HasSecret reports whether value holds a secret anywhere: a non-empty
// string or a number under a secret-shaped key (see SecretFields for the
// rule inside secret containers).
func HasSecret(value []byte) bool {
	found := false
	walkSecrets(value, "", false, func(string, int) bool {
		found = true
		return false
	})
	return found
}

// SecretFields lists the secret places in value, each path prefixed by
// prefix ("providers.nous" gives "providers.nous.refresh_token"), with the
// decoded size of each. The rule:
//   - a member whose key IsSecretKey is secret if its value is a non-empty
//     string or a number;
//   - if it holds an object or array (Codex's "tokens"), the places inside
//     are: the secret-shaped keys, when the object has any; otherwise
//     every non-empty string or number not under an exempt metadata key;
//     array elements inherit from their array.
func SecretFields(prefix string, value []byte) []SecretField {
	var out []SecretField
	walkSecrets(value, prefix, true, func(p string, n int) bool {
		out = append(out, SecretField{Path: p, Size: n})
		return true
	})
	return out
}

// CountSecrets returns how many secret places value holds and their total
// size in bytes, for plans and reports.
func CountSecrets(value []byte) (n, bytes int) {
	walkSecrets(value, "", false, func(_ string, size int) bool {
		n++
		bytes += size
		return true
	})
	return n, bytes
}

// hasSecretAt is HasSecret for a value found under a key: when the key
// itself is secret-shaped (a top-level "api_key", a pool named "token"),
// the value is judged as a secret leaf.
func hasSecretAt(underSecretKey bool, value []byte) bool {
	if !underSecretKey {
		return HasSecret(value)
	}
	found := false
	leaf(value, "", false, func(string, int) bool {
		found = true
		return false
	})
	return found
}

// secretFieldsAt is SecretFields for a value found under a key (see
// hasSecretAt).
func secretFieldsAt(place string, underSecretKey bool, value []byte) []SecretField {
	if !underSecretKey {
		return SecretFields(place, value)
	}
	var out []SecretField
	leaf(value, place, true, func(p string, n int) bool {
		out = append(out, SecretField{Path: p, Size: n})
		return true
	})
	return out
}

// walkSecrets calls fn for each secret leaf until fn returns false. Paths
// are built only when withPath is set.
func walkSecrets(raw []byte, path string, withPath bool, fn func(path string, size int) bool) bool {
	return walk(raw, path, withPath, false, fn)
}

// walk visits raw; inSecret says raw sits under a secret-shaped key.
func walk(raw []byte, path string, withPath, inSecret bool, fn func(string, int) bool) bool {
	switch kind(raw) {
	case '{':
		// Inside a secret container with no secret-shaped keys of its own,
		// every leaf not under exempt metadata is secret.
		blanket := inSecret && !hasSecretKey(raw)
		cont := true
		eachMember(raw, func(k, v []byte) bool {
			secret := isSecretTok(k)
			if blanket {
				secret = !isExemptName(NormalizeKey(decodeString(k)))
			}
			p := ""
			if withPath {
				p = joinPath(path, decodeString(k))
			}
			if secret {
				cont = leaf(v, p, withPath, fn)
			} else if k := kind(v); k == '{' || k == '[' {
				cont = walk(v, p, withPath, false, fn)
			}
			return cont
		})
		return cont
	case '[':
		cont := true
		eachElement(raw, func(i int, v []byte) bool {
			p := ""
			if withPath {
				p = path + "[" + strconv.Itoa(i) + "]"
			}
			if inSecret {
				cont = leaf(v, p, withPath, fn)
			} else {
				cont = walk(v, p, withPath, false, fn)
			}
			return cont
		})
		return cont
	}
	return true
}

// leaf handles a value under a secret-shaped key.
func leaf(v []byte, p string, withPath bool, fn func(string, int) bool) bool {
	v = trimValue(v)
	switch kind(v) {
	case '"':
		if n := stringLen(v); n > 0 {
			return fn(p, n)
		}
	case '{', '[':
		return walk(v, p, withPath, true, fn)
	case 'n', 't', 'f', 0:
	default:
		return fn(p, len(v))
	}
	return true
}

func hasSecretKey(raw []byte) bool {
	found := false
	eachMember(raw, func(k, _ []byte) bool {
		found = isSecretTok(k)
		return !found
	})
	return found
}

// isSecretTok is IsSecretKey on a raw key token, without allocating for
// the plain lower-case keys Hermes writes.
func isSecretTok(tok []byte) bool {
	b := tok[1 : len(tok)-1]
	plain := len(b) > 0
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			plain = false
			break
		}
	}
	if !plain {
		return IsSecretKey(decodeString(tok))
	}
	if isExemptName(string(b)) {
		return false
	}
	if isExactSecretName(string(b)) {
		return true
	}
	for _, s := range secretSuffixes {
		if len(b) >= len(s) && string(b[len(b)-len(s):]) == s {
			return true
		}
	}
	return false
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return safeName(name)
	}
	return prefix + "." + safeName(name)
}

// safeName returns name for use in messages and paths when it looks like
// an identifier Hermes writes, or a neutral description otherwise, so a
// value pasted where a key belongs never reaches an error or a report.
func safeName(name string) string {
	if len(name) == 0 || len(name) > 64 {
		return "(key of " + strconv.Itoa(len(name)) + " bytes)"
	}
	upper := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' && i > 0 && name[i-1] >= 'a' && name[i-1] <= 'z' {
			upper++ // camelCase, as in accessToken, expiresAt
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c == '/') {
			return "(key of " + strconv.Itoa(len(name)) + " bytes)"
		}
	}
	if upper > 2 {
		return "(key of " + strconv.Itoa(len(name)) + " bytes)"
	}
	return name
}
