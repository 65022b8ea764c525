package hermes

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// CopyArchive is a zip archive of a Hermes home holding secrets in
// plaintext: `hermes backup` (~/hermes-backup-<stamp>.zip, 0644 by the
// default umask) or `hermes update`'s full pre-update backup
// (<root>/backups/pre-update-<stamp>.zip). Made while `hermes-keys run`
// runs, such an archive holds the materialised tokens.
const CopyArchive CopyKind = "archive"

// Limits of an archive scan: an archive is untrusted input (any zip named
// like a backup), so a hostile one costs at most this much.
const (
	maxArchiveSize    = 4 << 30  // the archive file itself
	maxArchiveEntries = 1 << 16  // entries looked at
	maxArchiveMember  = 40 << 20 // bytes read from one member (MaxDocSize)
	maxArchiveRead    = 64 << 20 // bytes read from all members
)

// ArchiveMember is one secret-bearing file inside an archive.
type ArchiveMember struct {
	Name    string `json:"name"`
	Secrets int    `json:"secret_fields"`
}

// Archive is a backup archive that holds secrets, with where (member
// names) and how many (counts), never the values.
type Archive struct {
	Path string `json:"path"`
	// WorldReadable: any user of the machine can read it (mode o+r).
	WorldReadable bool            `json:"world_readable"`
	Members       []ArchiveMember `json:"members"`
	// Unreadable says why the archive could not be read ("" when it was).
	Unreadable string `json:"unreadable,omitempty"`
}

// Secrets is the number of secret fields in all members.
func (a Archive) Secrets() int {
	n := 0
	for _, m := range a.Members {
		n += m.Secrets
	}
	return n
}

// ScanArchives lists the backup archives of root that hold secrets:
// hermes-backup-*.zip in userHome (where `hermes backup` writes them by
// default) and *.zip in <root>/backups/ (`hermes update --backup`, or
// updates.pre_update_backup: full). An archive that cannot be read is
// listed with the reason; one without a recognised secret is not listed.
// A symbolic link is not followed. Sorted by path.
func ScanArchives(root, userHome string) []Archive {
	var cands []string
	add := func(dir, prefix string) {
		if dir == "" {
			return
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(strings.ToLower(n), ".zip") {
				cands = append(cands, filepath.Join(dir, n))
			}
		}
	}
	add(userHome, "hermes-backup-")
	if root != "" {
		add(filepath.Join(root, "backups"), "")
	}
	var out []Archive
	seen := map[string]bool{}
	for _, p := range cands {
		if seen[p] {
			continue
		}
		seen[p] = true
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		a := ScanArchive(p)
		a.WorldReadable = fi.Mode().Perm()&0o004 != 0
		if len(a.Members) > 0 || a.Unreadable != "" {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// ScanArchive counts the secrets of the Hermes secret documents inside
// one zip archive: every auth.json, .env, nous_auth.json and
// .anthropic_oauth.json member at any depth (the root's, the profiles',
// state snapshots'), and the temp files Hermes's writers leave.
func ScanArchive(p string) Archive {
	a := Archive{Path: p}
	f, err := openRegular(p)
	if err != nil {
		a.Unreadable = reason(err)
		return a
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.Unreadable = reason(err)
		return a
	}
	if fi.Size() > maxArchiveSize {
		a.Unreadable = fmt.Sprintf("too large to scan (%d bytes)", fi.Size())
		return a
	}
	a.Members, err = scanZip(f, fi.Size())
	if err != nil {
		a.Unreadable = reason(err)
	}
	return a
}

var errArchiveLimit = errors.New("the archive exceeds the scan's limits; it was scanned in part")

// scanZip counts the secrets of the secret documents in a zip read from r.
func scanZip(r io.ReaderAt, size int64) ([]ArchiveMember, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable zip archive: %w", err)
	}
	var out []ArchiveMember
	var read int64
	for i, zf := range zr.File {
		if i >= maxArchiveEntries {
			return out, errArchiveLimit
		}
		if zf.FileInfo().IsDir() {
			continue
		}
		name := zf.Name
		env, ok := secretMember(name)
		if !ok {
			continue
		}
		if zf.UncompressedSize64 > maxArchiveMember || read+int64(zf.UncompressedSize64) > maxArchiveRead {
			return out, errArchiveLimit
		}
		rc, err := zf.Open()
		if err != nil {
			return out, fmt.Errorf("member %q: %w", name, err)
		}
		// The header's size may lie: read at most what it promised.
		b, err := io.ReadAll(io.LimitReader(rc, int64(zf.UncompressedSize64)+1))
		rc.Close()
		if err != nil {
			return out, fmt.Errorf("member %q: %w", name, err)
		}
		read += int64(len(b))
		if n := countBytes(b, env); n > 0 {
			out = append(out, ArchiveMember{Name: name, Secrets: n})
		}
	}
	return out, nil
}

// secretMember says whether a member name is a Hermes secret document (or a
// temp file of one), and whether it is a .env.
func secretMember(name string) (env, ok bool) {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	switch base {
	case EnvFileName:
		return true, true
	case AuthFile, SharedNousFile, AnthropicOAuthFile, AuthFile + ".corrupt":
		return false, true
	}
	for _, re := range tempPatterns {
		if re.MatchString(base) {
			return strings.HasPrefix(base, ".env_"), true
		}
	}
	for _, re := range sharedTempPatterns {
		if re.MatchString(base) {
			return false, true
		}
	}
	return false, false
}

// countBytes counts secrets as countCopy does, from bytes.
func countBytes(b []byte, env bool) int {
	if env {
		return len(ParseEnv(b).SecretEnvKeys())
	}
	if _, err := ParseDoc(b); err == nil {
		n, _ := CountSecrets(bytes.TrimPrefix(b, bom))
		return n
	}
	return countSecretPairs(b)
}
