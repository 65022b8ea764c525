package hermes

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// Crash points of WriteFile, for tests that kill the process mid-write
// (see internal/faultpoint).
const (
	FaultTempWritten = "hermes-write:temp-written"
	FaultRenamed     = "hermes-write:renamed"
)

// WriteFile replaces path with data as Hermes's own writers do (reference
// §3.3): the parent directory is created and tightened to 0700 (best
// effort, as Hermes's secure_parent_dir); a temp file is created beside the
// real file with O_CREAT|O_EXCL and mode 0600, written and fsynced; it is
// renamed over the real file; the directory is fsynced; the file ends at
// 0600. When path is a symbolic link its target is replaced, so the link
// stays a link. When an existing file belongs to another owner
// (hermes-keys run as root on a user's home), the new file keeps that
// owner. A reader sees the old content or the new, never a mix.
//
// A read-only auth.json (0400) in a writable directory is replaced like any
// other, as Hermes's rename replaces it, and ends at 0600. A directory that
// refuses new files gives an error matching ErrNotWritable, with a hint.
//
// Temp files carry OwnTempMark (auth.json.tmp.hermes-keys.<pid>.<hex>,
// .env_hermes-keys.<pid>.<hex>.tmp): ScanCopies lists any a crash leaves
// behind, and OwnTemps tells them apart from Hermes's own.
//
// The writer is internal/atomicfile's; this wrapper sets Hermes's options
// and maps its steps to the fault points FaultTempWritten and FaultRenamed.
func WriteFile(path string, data []byte) error {
	if err := checkDocLink(path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return hermesError(atomicfile.Write(path, data, writeOptions))
}

var writeOptions = atomicfile.Options{
	Perm:      0o600,
	DirPerm:   0o700,
	KeepOwner: true,
	TempName:  tempName,
	Hook:      writeHook,
}

// writeHook maps the writer's steps to this package's fault points, so
// crash tests can name Hermes-store writes apart from the vault's.
func writeHook(step string) {
	switch step {
	case atomicfile.StepTempSynced:
		faultpoint.Hit(FaultTempWritten)
	case atomicfile.StepRenamed:
		faultpoint.Hit(FaultRenamed)
	}
}

// ErrNotWritable: the directory that must hold the new file refuses new
// files (permissions, a read-only file system), so the file cannot be
// replaced. It is atomicfile.ErrNotWritable.
var ErrNotWritable = atomicfile.ErrNotWritable

// CheckWritable tells, changing nothing, whether WriteFile could replace
// path now: it creates and removes a temp file, named as WriteFile names
// its own, where WriteFile would put it (beside a symbolic link's target).
// Callers run it before they create or change anything else, so that an
// unwritable Hermes home fails before, not after, the vault is written.
// The error names the directory, matches ErrNotWritable and carries a hint.
func CheckWritable(path string) error {
	if err := checkDocLink(path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := hermesError(atomicfile.CheckWritable(path, tempName)); err != nil {
		return fmt.Errorf("%s cannot be replaced: %w", path, err)
	}
	return nil
}

// hermesError gives atomicfile's errors this package's sentinels and hints.
func hermesError(err error) error {
	if err == nil {
		return nil
	}
	var nr *atomicfile.NotRegularError
	if errors.As(err, &nr) {
		return fmt.Errorf("%s: %w", nr.Path, notRegular(nr.Mode))
	}
	if errors.Is(err, atomicfile.ErrNotWritable) {
		who := "the user running hermes-keys"
		if uid := os.Getuid(); uid >= 0 {
			who += fmt.Sprintf(" (uid %d)", uid)
		}
		return xerr.Hintf(err, "Hermes's files are replaced by renaming a new file into their directory, so that directory must be writable by %s; fix its owner or mode, or run as the user who owns it", who)
	}
	return err
}

// WriteDoc marshals doc in its Style and writes it with WriteFile. Nothing
// is written unless the whole document marshals to valid JSON.
func WriteDoc(path string, doc *Object) error {
	b, err := doc.Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !json.Valid(b) { // belt and braces: never leave partial JSON
		return fmt.Errorf("%s: %w: marshalled document did not validate", path, ErrCorrupt)
	}
	return WriteFile(path, b)
}

// OwnTempMark is in the name of every temp file WriteFile creates, and in
// no name Hermes gives its own (auth.json.tmp.<pid>.<uuid hex>, .auth_*.tmp,
// .env_<random>.tmp from mkstemp, which never holds a '-' or '.'), so a
// crash leftover of ours is told apart from a temp file of a Hermes
// writer that may still be running.
const OwnTempMark = "hermes-keys"

// tempName names a temp file for base so that ScanCopies's patterns for
// Hermes's temp files still find it (a plaintext copy is listed whoever
// left it) and ParseOwnTemp recognises it as ours:
// <base>.tmp.hermes-keys.<pid>.<32 hex>, or for .env
// .env_hermes-keys.<pid>.<32 hex>.tmp.
func tempName(base string) string {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	h := hex.EncodeToString(rnd[:])
	pid := strconv.Itoa(os.Getpid())
	if base == EnvFileName {
		return ".env_" + OwnTempMark + "." + pid + "." + h + ".tmp"
	}
	return base + ".tmp." + OwnTempMark + "." + pid + "." + h
}

// resolveLink follows symbolic links from path to the file that must be
// replaced (see atomicfile.ResolveLink).
func resolveLink(path string) (string, error) {
	t, err := atomicfile.ResolveLink(path)
	return t, hermesError(err)
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
