package codex

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Keyring names Codex uses (codex-rs/login/src/auth/storage.rs and
// codex-rs/secrets/src/lib.rs).
const (
	// KeyringService is the service of the direct keyring entry; its value
	// is the compact JSON of the whole auth.json document.
	KeyringService = "Codex Auth"
	// SecretsKeyringService is the service of the passphrase of
	// secrets/codex_auth.age.
	SecretsKeyringService = "codex"
)

// Files under CODEX_HOME.
const (
	authFileName    = "auth.json"
	configFileName  = "config.toml"
	secretsFileRel  = "secrets/codex_auth.age"
	secretsAuthName = "global/CODEX_AUTH"
)

// home is a located CODEX_HOME.
type home struct {
	// dir is where the files are read from.
	dir string
	// hash is the first 16 hex digits of SHA-256 of the canonical path, as
	// Codex computes it for its keyring accounts.
	hash string
}

func (h home) path(rel string) string { return filepath.Join(h.dir, filepath.FromSlash(rel)) }

// KeyringAccount returns the account of the direct keyring entry.
func (h home) keyringAccount() string { return "cli|" + h.hash }

// secretsAccount returns the account of the secrets passphrase.
func (h home) secretsAccount() string { return "secrets|" + h.hash }

// locateHome finds CODEX_HOME the way Codex's find_codex_home does: an
// explicit directory (the --codex-home flag, else $CODEX_HOME) must exist
// and be a directory and is used canonicalised; otherwise it is ~/.codex,
// which need not exist.
func locateHome(explicit string, env func(string) string) (home, error) {
	if explicit == "" && env != nil {
		explicit = env("CODEX_HOME")
	}
	if explicit != "" {
		fi, err := os.Stat(explicit)
		switch {
		case err != nil && os.IsNotExist(err):
			return home{}, refuse(ReasonNoCodexHome, hintFor(ReasonNoCodexHome),
				fmt.Sprintf("codex home %q does not exist", explicit))
		case err != nil:
			return home{}, refuse(ReasonNoCodexHome, hintFor(ReasonNoCodexHome),
				fmt.Sprintf("codex home %q: %v", explicit, err))
		case !fi.IsDir():
			return home{}, refuse(ReasonNoCodexHome, hintFor(ReasonNoCodexHome),
				fmt.Sprintf("codex home %q is not a directory", explicit))
		}
		canon, err := canonical(explicit)
		if err != nil {
			return home{}, refuse(ReasonNoCodexHome, hintFor(ReasonNoCodexHome),
				fmt.Sprintf("codex home %q: %v", explicit, err))
		}
		return home{dir: canon, hash: pathHash(hashInput(canon))}, nil
	}
	user := userHome(env)
	if user == "" {
		return home{}, refuse(ReasonNoCodexHome, "set HOME (or CODEX_HOME, or pass --codex-home)",
			"cannot tell where ~/.codex is: the home directory is not set")
	}
	dir := filepath.Join(user, ".codex")
	// Codex hashes codex_home.canonicalize(), falling back to the path as
	// it is when that fails (the directory does not exist).
	key := dir
	if canon, err := canonical(dir); err == nil {
		key = canon
	}
	return home{dir: dir, hash: pathHash(hashInput(key))}, nil
}

// canonical resolves symlinks and makes p absolute, like Rust's
// fs::canonicalize apart from the Windows prefix (see hashInput).
func canonical(p string) (string, error) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(resolved)
}

// userHome is dirs::home_dir: $HOME on Unix, the profile folder on Windows.
func userHome(env func(string) string) string {
	if env == nil {
		return ""
	}
	if runtime.GOOS == "windows" {
		if p := env("USERPROFILE"); p != "" {
			return p
		}
	}
	return env("HOME")
}

// hashInput is the string Codex hashes: the canonical path as Rust prints
// it. On Windows, fs::canonicalize returns the extended-length form
// (\\?\C:\..., \\?\UNC\server\share\...), so the prefix is part of the hash.
func hashInput(canon string) string {
	if runtime.GOOS == "windows" {
		return extendedLengthPath(canon)
	}
	return canon
}

// extendedLengthPath adds the \\?\ prefix Rust's canonicalize returns on
// Windows. It is pure string work, so it is tested on every platform.
func extendedLengthPath(p string) string {
	switch {
	case strings.HasPrefix(p, `\\?\`):
		return p
	case strings.HasPrefix(p, `\\`):
		return `\\?\UNC\` + strings.TrimPrefix(p, `\\`)
	default:
		return `\\?\` + p
	}
}

// pathHash is the first 16 hex digits of SHA-256 of s.
func pathHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}
