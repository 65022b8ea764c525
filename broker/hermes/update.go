package hermes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// SealFile seals an auth.json in place: under its lock it reads the file,
// splits it, hands the blocks to store (which must make them durable, in
// the vault, before it returns), and only then writes the skeleton. If
// store fails, the file is left as it was. Nothing is written when
// nothing holds a secret. It returns the blocks sealed; should the final
// write fail they are returned with the error (they are in the vault and
// still in the file, which is safe).
func SealFile(ctx context.Context, path, lockPath string, m Marker, store func([]Block) error) ([]Block, error) {
	var sealed []Block
	err := Update(ctx, path, lockPath, func(doc *Object) (bool, error) {
		sk, blocks, err := Split(doc, m)
		if err != nil || len(blocks) == 0 {
			return false, err
		}
		if err := store(blocks); err != nil {
			return false, err
		}
		sealed = blocks
		*doc = *sk
		return true, nil
	})
	return sealed, err
}

// MergeFile puts blocks back into the auth.json at path under its lock
// (see Merge); with unseal set it also removes the marker (see Unseal).
// The file is written only when something changed.
func MergeFile(ctx context.Context, path, lockPath string, blocks []Block, unseal bool) (MergeReport, error) {
	var rep MergeReport
	err := Update(ctx, path, lockPath, func(doc *Object) (bool, error) {
		var out *Object
		var err error
		if unseal {
			out, rep, err = Unseal(doc, blocks)
		} else {
			out, rep, err = Merge(doc, blocks)
		}
		if err != nil {
			return false, err
		}
		changed := len(rep.Restored) > 0 || len(out.Members) != len(doc.Members)
		*doc = *out
		return changed, nil
	})
	return rep, err
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

var docGroups = map[string]string{DocSharedNous: "nous", DocAnthropicOAuth: "anthropic"}

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
	b := Block{Key: key, Kind: KindDocument, Name: key, Group: docGroups[key],
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

// SealDocumentFile seals a whole document file and removes it: under
// lockPath (when not "": nous_auth.lock for the shared Nous store) it reads
// path, hands the block to store, and removes the file only if it still
// holds what was stored; if a writer replaced it meanwhile, the new content
// is sealed in turn. When path is a symbolic link, the file it points to
// is removed and the link stays. A missing file gives found false and
// calls nothing.
func SealDocumentFile(ctx context.Context, path, lockPath, key string, store func(Block) error) (found bool, err error) {
	if lockPath != "" {
		lk, err := AcquireLock(ctx, lockPath, 0)
		if err != nil {
			return false, err
		}
		defer lk.Unlock()
	}
	for attempt := 0; attempt < 3; attempt++ {
		data, err := readSmall(path, MaxDocSize)
		if err != nil {
			return false, docError(path, err)
		}
		if data == nil {
			return found, nil
		}
		b, err := SealDocument(key, data)
		if err != nil {
			return false, docError(path, err)
		}
		if err := store(b); err != nil {
			return false, err
		}
		found = true
		now, err := readSmall(path, MaxDocSize)
		if err != nil {
			return true, docError(path, err)
		}
		if now == nil {
			return true, nil
		}
		if bytes.Equal(now, data) {
			// A symbolic link stays; the file it points to goes.
			target, err := resolveLink(path)
			if err != nil {
				return true, err
			}
			if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return true, err
			}
			return true, syncDir(filepath.Dir(target))
		}
	}
	return true, fmt.Errorf("%s kept changing while it was sealed; it was left in place", path)
}

// MaterializeDocumentFile writes a whole document block back to path, under
// lockPath when not "", only when path does not exist: a file that exists
// is newer than the vault. A dangling symbolic link is written through.
// It reports whether it wrote.
func MaterializeDocumentFile(ctx context.Context, path, lockPath string, b Block) (bool, error) {
	data, err := b.DocumentBytes()
	if err != nil {
		return false, err
	}
	if lockPath != "" {
		lk, err := AcquireLock(ctx, lockPath, 0)
		if err != nil {
			return false, err
		}
		defer lk.Unlock()
	}
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, WriteFile(path, data)
}
