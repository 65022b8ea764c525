// Package atomicfile replaces a file so that a reader sees either the old
// content or the new, never a mix, and a crash at any point leaves one of
// the two on disk: an O_EXCL temp file in the same directory, fsync, rename,
// then fsync of the directory.
//
// It is the one writer of the project: the vault's files use WriteFile,
// Hermes's stores use Write with the options that make it follow Hermes's
// own protocol (temp names Hermes uses, a private parent directory, the
// replaced file's owner kept).
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hermes-keys/hermes-keys/internal/safefs"
)

// The steps of a write, in order, as passed to a hook.
const (
	StepTempCreated = "temp-created" // the temp file exists, empty, at its final mode
	StepTempWritten = "temp-written" // data written, not yet fsynced
	StepTempSynced  = "temp-synced"  // fsynced and closed, not yet renamed
	StepRenamed     = "renamed"      // renamed over the file, directory not yet fsynced
)

// Hook, when set (by tests only), is called at each step of a write whose
// Options carry no hook of their own; crash tests use it to stop the
// process at an exact point.
var Hook func(step string)

// ErrNotRegular: the path (or the file a symbolic link at it points to) is
// a directory, FIFO, device or socket, which a write must not replace.
var ErrNotRegular = errors.New("not a regular file")

// ErrNotWritable: no file can be created in the directory that would hold
// the temp file, so the file cannot be replaced.
var ErrNotWritable = errors.New("directory is not writable")

// NotRegularError reports what was found where a regular file belongs. It
// matches ErrNotRegular.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string { return e.Path + ": " + ErrNotRegular.Error() }

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// Options tune Write. The zero value writes as WriteFile does with 0600.
type Options struct {
	// Perm is the mode the file ends at; 0 means 0600. The temp file is
	// created with it and chmodded to it (the umask may have taken bits
	// away) before any data is written.
	Perm os.FileMode
	// DirPerm, when not 0, makes Write create the directory of path with
	// this mode when it is missing, and tighten an existing one to it, as
	// Hermes's secure_parent_dir does: never the file system root or a
	// top-level directory, and only as far as we may (a directory of
	// another owner keeps its mode; writing in it then succeeds or fails
	// on its own merits). Tightening only takes bits away (0755 becomes
	// 0700, 0500 stays 0500): unlike Hermes, it never makes a directory
	// writable that its owner made read-only. When path is a symbolic
	// link, a missing directory of its target is created with this mode
	// but not tightened.
	DirPerm os.FileMode
	// KeepOwner gives the new file the owner and group of the file it
	// replaces, when they differ from ours (only root can; for anyone else
	// they match already).
	KeepOwner bool
	// TempName names the temp file for the base name of the file it will
	// replace. It must return a fresh name on each call. nil names it
	// ".<base>.tmp.<random hex>".
	TempName func(base string) string
	// Hook, when not nil, is called at each step instead of the package
	// Hook, so a caller can map the steps to fault points of its own.
	Hook func(step string)
}

func (o *Options) hook(step string) {
	h := o.Hook
	if h == nil {
		h = Hook
	}
	if h != nil {
		h(step)
	}
}

// WriteFile atomically replaces path with data, leaving it at perm. If path
// is a symlink, the link's target is replaced and the link is kept.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, data, Options{Perm: perm})
}

// Write atomically replaces path with data:
//   - a symbolic link at path is followed (ResolveLink) and its target is
//     replaced, so the link stays a link; a dangling link is written
//     through to where it points;
//   - a temp file is created in the target's directory with
//     O_CREAT|O_EXCL at the final mode, written and fsynced;
//   - it is renamed over the target, and the directory is fsynced.
//
// On any error the temp file is removed and the target is untouched; once
// the rename has happened Write returns nil, even when the directory fsync
// that follows fails (the new content is in place). A process killed
// mid-write leaves the old file or the new one, whole, and at worst a temp
// file.
func Write(path string, data []byte, o Options) (err error) {
	perm := o.Perm
	if perm == 0 {
		perm = 0o600
	}
	if o.DirPerm != 0 {
		if err := securePrivateDir(filepath.Dir(path), o.DirPerm); err != nil {
			return err
		}
	}
	target, err := ResolveLink(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if o.DirPerm != 0 && dir != filepath.Dir(path) {
		if err := os.MkdirAll(dir, o.DirPerm); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	var owner *fileOwner
	if o.KeepOwner {
		if fi, err := os.Stat(target); err == nil {
			owner = ownerOf(fi)
		}
	}
	tmp, err := tempPath(dir, filepath.Base(target), o.TempName)
	if err != nil {
		return err
	}
	f, err := safefs.OpenNoFollow(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return notWritable(dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if runtime.GOOS != "windows" {
		// The umask may have taken bits away; the mode must be exactly perm.
		if err = f.Chmod(perm); err != nil {
			return fmt.Errorf("chmod %s: %w", tmp, err)
		}
		if err = owner.apply(f); err != nil {
			return fmt.Errorf("chown %s: %w", tmp, err)
		}
	}
	o.hook(StepTempCreated)
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	o.hook(StepTempWritten)
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	o.hook(StepTempSynced)
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("rename over %s: %w", target, err)
	}
	o.hook(StepRenamed)
	// The new content is in place and every reader sees it: the write has
	// happened, so it is not reported as failed (a caller would then act
	// as if the old content were still there). The directory fsync only
	// makes the rename survive a power loss; its failure is not the
	// write's.
	syncDir(dir)
	return nil
}

// syncDir is SyncDir; a test replaces it to make the fsync fail.
var syncDir = SyncDir

// CheckWritable tells, without changing anything that stays, whether Write
// could replace path now: it creates a temp file where Write would (beside
// the target of a symbolic link at path) and removes it again. When that
// directory does not exist yet, the nearest existing ancestor is probed,
// since Write would create the directory there. The error matches
// ErrNotWritable when the directory refuses new files (permissions, a
// read-only file system) and ErrNotRegular when path is no regular file.
//
// This is the true test, not a guess from mode bits: it sees ACLs,
// read-only mounts and immutable directories, and root's exemptions.
func CheckWritable(path string, tempName func(base string) string) error {
	target, err := ResolveLink(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: not a directory", dir)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		dir = parent
	}
	tmp, err := tempPath(dir, filepath.Base(target), tempName)
	if err != nil {
		return err
	}
	f, err := safefs.OpenNoFollow(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return notWritable(dir, err)
	}
	f.Close()
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove the probe %s: %w", tmp, err)
	}
	return nil
}

// notWritable explains a failure to create a file in dir; refusals (EACCES,
// EPERM, EROFS) match ErrNotWritable.
func notWritable(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrPermission) || isReadOnlyFS(err) {
		return &notWritableError{dir: dir, cause: err}
	}
	return fmt.Errorf("create a temp file in %s: %w", dir, err)
}

type notWritableError struct {
	dir   string
	cause error
}

func (e *notWritableError) Error() string {
	return fmt.Sprintf("%s: %s (%v)", e.dir, ErrNotWritable, e.cause)
}

func (e *notWritableError) Is(target error) bool { return target == ErrNotWritable }
func (e *notWritableError) Unwrap() error        { return e.cause }

func tempPath(dir, base string, name func(string) string) (string, error) {
	if name != nil {
		return filepath.Join(dir, name(base)), nil
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, "."+base+".tmp."+hex.EncodeToString(rnd[:])), nil
}

// ResolveLink follows symbolic links from path, as os.path.realpath does
// for the last component, to the file a write must replace. A link to a
// file that does not exist yet resolves to where that file would be. A
// directory, FIFO, device or socket gives a *NotRegularError.
func ResolveLink(path string) (string, error) {
	p := path
	for i := 0; i < 40; i++ {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.Mode().IsRegular() {
				return "", &NotRegularError{Path: p, Mode: fi.Mode()}
			}
			return p, nil
		}
		t, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// securePrivateDir creates dir and, like Hermes's secure_parent_dir,
// tightens it to perm unless it is the file system root or a top-level
// directory. Tightening is best effort, as in Hermes (a directory we do not
// own keeps its mode), and only takes bits away.
func securePrivateDir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // Hermes judges the resolved directory
	}
	if parent := filepath.Dir(abs); parent == abs || filepath.Dir(parent) == parent {
		return nil
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return err
	}
	// Only take bits away: a directory its owner made read-only (0500)
	// stays so, and the write then fails with ErrNotWritable. (Hermes
	// chmods to 0700 outright, which would undo that choice.)
	// Never another's directory: root following a link a user planted
	// (shared -> /opt/x) must not chmod a system directory.
	if safefs.CheckOwner(abs) != nil {
		return nil
	}
	if m := fi.Mode().Perm(); m&perm != m {
		os.Chmod(abs, m&perm) // best effort
	}
	return nil
}

// SyncDir fsyncs a directory so a rename in it survives a crash. It is a
// no-op on Windows, where directories cannot be opened for sync.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
