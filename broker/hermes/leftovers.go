package hermes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hermes-keys/hermes-keys/internal/lazyre"
)

// ownTempRE matches the names tempName gives: <base>.tmp.hermes-keys.<pid>.<hex>
// for the JSON documents, .env_hermes-keys.<pid>.<hex>.tmp for .env.
var ownTempRE = lazyre.New(`^(?:(auth\.json|\.anthropic_oauth\.json|nous_auth\.json)\.tmp\.hermes-keys\.([0-9]+)\.[0-9a-f]{32}|\.env_hermes-keys\.([0-9]+)\.[0-9a-f]{32}\.tmp)$`)

// OwnTemp is a temp file WriteFile created and never renamed.
type OwnTemp struct {
	Path string
	// Base is the name of the file it was to replace (auth.json, .env,
	// .anthropic_oauth.json, nous_auth.json).
	Base string
	// PID is the process that wrote it.
	PID int
}

// ParseOwnTemp recognises a temp file name of WriteFile's; Hermes's own
// temp names never match.
func ParseOwnTemp(name string) (base string, pid int, ok bool) {
	m := ownTempRE.Re().FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	base, n := m[1], m[2]
	if base == "" {
		base, n = EnvFileName, m[3]
	}
	pid, err := strconv.Atoi(n)
	if err != nil {
		return "", 0, false
	}
	return base, pid, true
}

// OwnTemps lists the temp files WriteFile left in dir whose writer is no
// longer running (a crash between create and rename): a temp file of a
// live writer, this process included, may still be renamed into place.
// Links and anything but regular files are left out.
func OwnTemps(dir string) ([]OwnTemp, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []OwnTemp
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.Contains(e.Name(), OwnTempMark) {
			continue
		}
		base, pid, ok := ParseOwnTemp(e.Name())
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		out = append(out, OwnTemp{Path: filepath.Join(dir, e.Name()), Base: base, PID: pid})
	}
	return out, nil
}

// ReadOwnTemp reads a leftover temp file with ReadDoc's refusals (size,
// not a regular file). It never follows a link.
func ReadOwnTemp(t OwnTemp) ([]byte, error) {
	fi, err := os.Lstat(t.Path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	return readSmall(t.Path, MaxDocSize)
}
