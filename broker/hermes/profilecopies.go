package hermes

import (
	"os"
	"path/filepath"
)

// Kinds of copies `hermes profile create --clone-all` leaves in a profile:
// it copies the whole source home, the root's shared/ and hermes-keys/
// directories included, and Hermes never reads either copy.
const (
	// CopyClone is <profile>/shared/nous_auth.json: the root's shared
	// Nous store (a refresh token), copied into a clone of the root.
	CopyClone CopyKind = "clone"
	// CopyVault is <profile>/hermes-keys/: a copy of the root's vault
	// directory. It is never a vault (a profile's vault is its root's),
	// never opened or trusted; it only holds the same sealed secrets, and
	// should go: `rm -r` it.
	CopyVault CopyKind = "vault-copy"
)

// scanProfileCopies lists the copies a clone left in profile h (nothing
// for the root). A symbolic link is not followed and not listed.
func scanProfileCopies(h Home) []Copy {
	if h.Profile == "" {
		return nil
	}
	var out []Copy
	p := filepath.Join(h.Dir, "shared", SharedNousFile)
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
		c := countCopy(p, false)
		c.Kind = CopyClone
		out = append(out, c)
	}
	d := filepath.Join(h.Dir, VaultDirName)
	if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
		out = append(out, Copy{Path: d, Kind: CopyVault})
	}
	return out
}

// VaultDirName is the directory of a root that holds hermes-keys's vault
// (broker.DirName, repeated so that neither package imports the other).
const VaultDirName = "hermes-keys"
