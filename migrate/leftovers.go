package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// Leftovers is what RemoveLeftovers found: the temp files it removed, and
// those it kept because they hold a block nothing else holds.
type Leftovers struct {
	Removed []string
	Kept    []string
}

// RemoveLeftovers removes the temp files hermes-keys's own writer
// (hermes.WriteFile) left in the homes' directories and the shared
// directory when it was killed between creating and renaming one. Only
// names ParseOwnTemp recognises are touched, never Hermes's own temp
// files, and only when their writer is no longer running.
//
// The rule: such a temp file was never renamed, so the real file is the
// truth. What it holds came from the real file (still there, unless
// Hermes has since replaced it with something newer) or from the vault
// (still there, unless something newer was put), so it is never newer
// than those two and is removed unread. As a guard against a writer that
// dropped a record before renaming, a complete, parsable temp file that
// holds a secret block (a .env secret key) found neither in the real file
// nor in the vault (has reports whether the vault holds a record key) is
// kept instead, and named in Kept: it stays listed as a plaintext copy by
// status until someone looks at it. A truncated temp file is a partial
// copy of one of the two and is removed.
func RemoveLeftovers(homes []hermes.Home, has func(key string) bool) (Leftovers, error) {
	var out Leftovers
	seenShared := map[string]bool{}
	for _, h := range homes {
		scope := broker.Scope(h.Profile)
		dirs := []string{h.Dir}
		if !seenShared[h.SharedDir] {
			seenShared[h.SharedDir] = true
			dirs = append(dirs, h.SharedDir)
		}
		for _, dir := range dirs {
			temps, err := hermes.OwnTemps(dir)
			if err != nil {
				return out, err
			}
			for _, t := range temps {
				if dir == h.SharedDir && t.Base != hermes.SharedNousFile || dir != h.SharedDir && t.Base == hermes.SharedNousFile {
					continue
				}
				keep, err := holdsUnique(h, scope, t, has)
				if err != nil {
					return out, err
				}
				if keep {
					out.Kept = append(out.Kept, t.Path)
					continue
				}
				if err := os.Remove(t.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return out, fmt.Errorf("remove the leftover %s: %w", t.Path, err)
				}
				out.Removed = append(out.Removed, t.Path)
			}
		}
	}
	return out, nil
}

// holdsUnique reports whether the leftover t holds a secret that neither
// the file it was to replace nor the vault holds.
func holdsUnique(h hermes.Home, scope string, t hermes.OwnTemp, has func(string) bool) (bool, error) {
	b, err := hermes.ReadOwnTemp(t)
	if err != nil {
		return false, nil // unreadable or no regular file: nothing to keep
	}
	real := filepath.Join(filepath.Dir(t.Path), t.Base)
	switch t.Base {
	case hermes.EnvFileName:
		cur, _ := hermes.ReadDocumentFile(real)
		live := map[string]bool{}
		if cur != nil {
			for _, k := range hermes.ParseEnv(cur).SecretEnvKeys() {
				live[k] = true
			}
		}
		for _, k := range hermes.ParseEnv(b).SecretEnvKeys() {
			if !live[k] && !has(scope+"env/"+k) {
				return true, nil
			}
		}
		return false, nil
	case hermes.AuthFile:
		doc, err := hermes.ParseDoc(b)
		if err != nil {
			return false, nil // truncated: a partial copy
		}
		_, blocks, err := hermes.Split(doc, hermes.Marker{})
		if err != nil {
			return true, nil // a shape we cannot judge: keep it
		}
		live := map[string]bool{}
		if cur, err := hermes.ReadDoc(real); err == nil {
			if _, lb, err := hermes.Split(cur, hermes.Marker{}); err == nil {
				for _, x := range lb {
					live[x.Key] = true
				}
			}
		}
		for _, x := range blocks {
			if !live[x.Key] && !has(scope+x.Key) {
				return true, nil
			}
		}
		return false, nil
	default: // a whole document: .anthropic_oauth.json, nous_auth.json
		if _, err := hermes.ParseDoc(b); err != nil {
			return false, nil
		}
		if n, _ := hermes.CountSecrets(b); n == 0 {
			return false, nil
		}
		key := scope + hermes.DocAnthropicOAuth
		if t.Base == hermes.SharedNousFile {
			key = hermes.DocSharedNous
		}
		cur, _ := hermes.ReadDocumentFile(real)
		return len(cur) == 0 && !has(key), nil
	}
}
