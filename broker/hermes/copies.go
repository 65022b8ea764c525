package hermes

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hermes-keys/hermes-keys/internal/lazyre"
)

// CopyKind says what a plaintext copy is.
type CopyKind string

// Kinds of plaintext copies.
const (
	CopySnapshot CopyKind = "snapshot" // state-snapshots/<ts>/auth.json or .env (hermes update)
	CopyCorrupt  CopyKind = "corrupt"  // auth.json.corrupt, set aside by Hermes
	CopyTemp     CopyKind = "temp"     // a temp file a crashed writer left
	CopyCache    CopyKind = "cache"    // cache/bws_cache.json, Bitwarden's plaintext cache
)

// Copy is a plaintext copy of secrets outside the live store files.
type Copy struct {
	Path string   `json:"path"`
	Kind CopyKind `json:"kind"`
	// Secrets is how many secret fields (or secret .env keys) it holds.
	Secrets int `json:"secrets"`
	// Unreadable says why the file could not be read or counted ("" when
	// it was); Secrets is then 0.
	Unreadable string `json:"unreadable,omitempty"`
}

// tempPatterns match the temp files Hermes's writers (and WriteFile)
// create beside a file: auth.json.tmp.<pid>.<hex> (July writer and ours),
// .auth_*.tmp (later writer), .env_*.tmp (save_env_value).
var tempPatterns = []*lazyre.Regexp{
	lazyre.New(`^auth\.json\.tmp(\..*)?$`),
	lazyre.New(`^\.auth_.*\.tmp$`),
	lazyre.New(`^\.env_.*\.tmp$`),
	lazyre.New(`^\.anthropic_oauth\.json\.tmp\..*$`),
	lazyre.New(`^\.anthropic_oauth_.*\.tmp$`),
}

var sharedTempPatterns = []*lazyre.Regexp{
	lazyre.New(`^nous_auth\.json\.tmp(\..*)?$`),
	lazyre.New(`^\.nous_auth_.*\.tmp$`),
}

// ScanCopies lists the plaintext copies of secrets in one home that
// sealing the live files leaves behind (reference §8.6): the auth.json and
// .env of each state snapshot, auth.json.corrupt, leftover temp files, and
// Bitwarden's plaintext cache. For the root it also looks for temp files
// of the shared Nous store. Each copy comes with its number of secret
// fields, never their values. Temp files, auth.json.corrupt and the
// Bitwarden cache are listed even when no secret field is recognised in
// them (their content may be partial, or not shaped like Hermes's);
// snapshots only when they hold a secret. The result is sorted by path.
func ScanCopies(h Home) []Copy {
	var out []Copy
	addIf := func(path string, k CopyKind, env bool, always bool) {
		c := countCopy(path, env)
		c.Kind = k
		if c.Secrets > 0 || c.Unreadable != "" || always {
			out = append(out, c)
		}
	}
	snaps, _ := os.ReadDir(filepath.Join(h.Dir, SnapshotsDir))
	for _, s := range snaps {
		if !s.IsDir() {
			continue
		}
		for _, name := range []string{AuthFile, EnvFileName} {
			p := filepath.Join(h.Dir, SnapshotsDir, s.Name(), name)
			if _, err := os.Lstat(p); err == nil {
				addIf(p, CopySnapshot, name == EnvFileName, false)
			}
		}
	}
	if p := filepath.Join(h.Dir, AuthFile+".corrupt"); exists(p) {
		addIf(p, CopyCorrupt, false, true)
	}
	if p := filepath.Join(h.Dir, "cache", "bws_cache.json"); exists(p) {
		// Always listed: it is a plaintext secret cache whatever its keys
		// are called (its format is not Hermes's; Secrets may undercount).
		addIf(p, CopyCache, false, true)
	}
	scanTemps := func(dir string, pats []*lazyre.Regexp) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			for _, re := range pats {
				if re.MatchString(e.Name()) {
					addIf(filepath.Join(dir, e.Name()), CopyTemp, strings.HasPrefix(e.Name(), ".env_"), true)
					break
				}
			}
		}
	}
	scanTemps(h.Dir, tempPatterns)
	if h.Profile == "" {
		scanTemps(h.SharedDir, sharedTempPatterns)
	}
	out = append(out, scanProfileCopies(h)...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// countCopy counts the secrets of one file: secret .env keys with a
// usable value, or secret fields of a JSON document. A JSON file that does
// not parse (truncated temp files, auth.json.corrupt) is counted leniently
// by looking for "secret_key": "non-empty" pairs.
func countCopy(path string, env bool) Copy {
	c := Copy{Path: path}
	b, err := readSmall(path, MaxDocSize)
	if err != nil {
		c.Unreadable = reason(err)
		return c
	}
	if env {
		c.Secrets = len(ParseEnv(b).SecretEnvKeys())
		return c
	}
	if _, err := ParseDoc(b); err == nil {
		c.Secrets, _ = CountSecrets(bytes.TrimPrefix(b, bom))
		return c
	}
	c.Secrets = countSecretPairs(b)
	return c
}

// reason describes a read error without the file's content.
func reason(err error) string {
	s := err.Error()
	if s == "" {
		return "unreadable"
	}
	return strings.ToLower(s[:1]) + s[1:]
}

var pairRE = lazyre.New(`"((?:[^"\\]|\\.){1,128})"\s*:\s*"(?:[^"\\]|\\.)`)

// countSecretPairs counts "key": "x… pairs whose key is secret-shaped, in
// text that need not be valid JSON.
func countSecretPairs(b []byte) int {
	n := 0
	for _, m := range pairRE.FindAllSubmatch(b, -1) {
		if IsSecretKey(decodeString(append(append([]byte{'"'}, m[1]...), '"'))) {
			n++
		}
	}
	return n
}
