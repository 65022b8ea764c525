package hermes

import (
	"bytes"
	"context"
	"fmt"
)

// Update changes a JSON document (auth.json, shared/nous_auth.json) the
// way Hermes's own writers do: it takes the lock at lockPath, reads the
// file again under the lock (a missing file is an empty document), calls
// fn, and writes the document back atomically (WriteDoc) only when fn
// reports a change. An error from fn, or a file that cannot be read,
// writes nothing. The lock is waited for until ctx's deadline, or
// DefaultLockTimeout when ctx has none.
func Update(ctx context.Context, path, lockPath string, fn func(doc *Object) (changed bool, err error)) error {
	lk, err := AcquireLock(ctx, lockPath, 0)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return UpdateHeld(path, fn)
}

// Keys of the whole documents of a Hermes root.
const (
	// DocSharedNous is <root>/shared/nous_auth.json (or
	// HERMES_SHARED_AUTH_DIR/nous_auth.json).
	DocSharedNous = "file/shared/nous_auth.json"
	// DocAnthropicOAuth is a home's .anthropic_oauth.json. Hermes writes
	// it without a lock; pass lockPath "" for it.
	DocAnthropicOAuth = "file/.anthropic_oauth.json"
)

// docGroup is the group of a whole document's block (a switch: no work at
// start-up).
func docGroup(key string) string {
	switch key {
	case DocSharedNous:
		return "nous"
	case DocAnthropicOAuth:
		return "anthropic"
	}
	return ""
}

// SealDocument makes a whole document (shared/nous_auth.json,
// .anthropic_oauth.json) one block under key. data must be a JSON object
// (a byte order mark is dropped).
func SealDocument(key string, data []byte) (Block, error) {
	doc, err := ParseDoc(data)
	if err != nil {
		return Block{}, err
	}
	st := doc.Style
	raw := bytes.TrimPrefix(data, bom)
	b := Block{Key: key, Kind: KindDocument, Name: key, Group: docGroup(key),
		Value: append([]byte(nil), trimValue(raw)...), Style: &st}
	b.Secrets = SecretFields("", b.Value)
	b.Expires, b.ExpiresFrom = expiryOf(b.Value)
	return b, nil
}

// DocumentBytes returns a document block as its file content, in the style
// it was written in.
func (b Block) DocumentBytes() ([]byte, error) {
	if b.Kind != KindDocument {
		return nil, fmt.Errorf("block %s: %w: not a whole document", safeKey(b.Key), ErrShape)
	}
	doc, err := ParseObject(b.Value)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", safeKey(b.Key), err)
	}
	if b.Style != nil {
		doc.Style = *b.Style
	}
	return doc.Marshal()
}
