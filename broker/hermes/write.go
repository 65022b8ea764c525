package hermes

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
)

// Crash points of WriteFile, for tests that kill the process mid-write
// (see internal/faultpoint).
const (
	FaultTempWritten = "hermes-write:temp-written"
	FaultRenamed     = "hermes-write:renamed"
)

// WriteFile replaces path with data as Hermes's own writers do (reference
// §3.3): the parent directory is created and tightened to 0700; a temp
// file is created beside the real file with O_CREAT|O_EXCL and mode 0600,
// written and fsynced; it is renamed over the real file; the directory is
// fsynced; the file ends at 0600. When path is a symbolic link its target
// is replaced, so the link stays a link. When an existing file belongs to
// another owner (hermes-keys run as root on a user's home), the new file
// keeps that owner. A reader sees the old content or the new, never a mix.
//
// Temp files are named as Hermes names its own (auth.json.tmp.<pid>.<hex>,
// .env_<hex>.tmp), so ScanCopies finds any a crash leaves behind.
func WriteFile(path string, data []byte) (err error) {
	if err := securePrivateDir(filepath.Dir(path)); err != nil {
		return err
	}
	target, err := resolveLink(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if dir != filepath.Dir(path) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	var owner *fileOwner
	if fi, err := os.Stat(target); err == nil {
		owner = ownerOf(fi)
	}
	tmp := filepath.Join(dir, tempName(filepath.Base(target)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create a temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if runtime.GOOS != "windows" {
		// The umask may have taken bits away; the mode must be exactly 0600.
		if err = f.Chmod(0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", tmp, err)
		}
		if err = owner.apply(f); err != nil {
			return fmt.Errorf("chown %s: %w", tmp, err)
		}
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	faultpoint.Hit(FaultTempWritten)
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("rename over %s: %w", target, err)
	}
	faultpoint.Hit(FaultRenamed)
	return syncDir(dir)
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

// tempName names a temp file for base the way Hermes names its own.
func tempName(base string) string {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	h := hex.EncodeToString(rnd[:])
	if base == EnvFileName {
		return ".env_" + h + ".tmp"
	}
	return base + ".tmp." + strconv.Itoa(os.Getpid()) + "." + h
}

// resolveLink follows symbolic links from path, as os.path.realpath does
// for the last component, to the file that must be replaced. A link to a
// file that does not exist yet resolves to where that file would be.
func resolveLink(path string) (string, error) {
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
				return "", fmt.Errorf("%s: %w", p, notRegular(fi.Mode()))
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
// tightens it to 0700 unless it is the file system root or a top-level
// directory.
func securePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if parent := filepath.Dir(abs); parent == abs || filepath.Dir(parent) == parent {
		return nil
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(abs, 0o700); err != nil {
			return fmt.Errorf("chmod 0700 %s: %w", abs, err)
		}
	}
	return nil
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
