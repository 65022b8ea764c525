package hermes

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// The functions in this file are for callers that change several documents
// of a root together and so take the locks themselves (in Hermes's order,
// see the package comment) and hold them across all the changes.

// UpdateHeld is Update for a caller that already holds the document's lock.
func UpdateHeld(path string, fn func(doc *Object) (changed bool, err error)) error {
	doc, err := ReadDoc(path)
	if err != nil {
		return err
	}
	changed, err := fn(doc)
	if err != nil || !changed {
		return err
	}
	return WriteDoc(path, doc)
}

// ReadDocumentFile reads a whole document (shared/nous_auth.json,
// .anthropic_oauth.json) with ReadDoc's refusals (size, not a regular
// file). A missing file gives nil, nil.
func ReadDocumentFile(path string) ([]byte, error) {
	b, err := readSmall(path, MaxDocSize)
	if err != nil {
		return nil, docError(path, err)
	}
	return b, nil
}

// RemoveDocumentFile removes the document at path if it still holds
// exactly want, and reports whether it did; a writer that replaced it
// meanwhile wins. A symbolic link stays and the file it points to goes.
// The caller holds the document's lock, when it has one.
func RemoveDocumentFile(path string, want []byte) (bool, error) {
	now, err := readSmall(path, MaxDocSize)
	if err != nil {
		return false, docError(path, err)
	}
	if now == nil || !bytes.Equal(now, want) {
		return false, nil
	}
	target, err := resolveLink(path)
	if err != nil {
		return false, err
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, syncDir(filepath.Dir(target))
}

// WriteDocumentFile writes a whole document block to path (the caller
// holds its lock, when it has one).
func WriteDocumentFile(path string, b Block) error {
	data, err := b.DocumentBytes()
	if err != nil {
		return err
	}
	return WriteFile(path, data)
}

// HasGroup reports whether doc holds any member of a sync group (a
// provider block or a pool entry Hermes derives from it).
func HasGroup(doc *Object, group string) bool { return hasGroup(doc, group) }

// HasMarker reports whether doc carries the hermes_keys marker.
func HasMarker(doc *Object) bool {
	_, ok := doc.Get(MarkerKey)
	return ok
}

// MarkerVaultID returns the vault id doc's hermes_keys marker names, "" when
// doc has no marker or one without an id: a skeleton counts as a vault's
// own only when it names that vault.
func MarkerVaultID(doc *Object) string {
	if doc == nil {
		return ""
	}
	v, ok := doc.Get(MarkerKey)
	if !ok {
		return ""
	}
	var m struct {
		VaultID string `json:"vault_id"`
	}
	if json.Unmarshal(v, &m) != nil {
		return ""
	}
	return m.VaultID
}
