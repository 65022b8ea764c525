package backends

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// ErrInsecureFile means a key or passphrase file can be read by group or
// other; we refuse to use it rather than trust what others may have copied.
var ErrInsecureFile = errors.New("file is readable by other users")

// CredentialName is the systemd credential (LoadCredential=) we read.
const CredentialName = "hermes-keys-passphrase"

// PassphraseSource says where a passphrase would come from, without reading
// it; "" when there is none.
func PassphraseSource(env iox.Env, io *iox.Streams) string {
	switch {
	case env.Get("HERMES_KEYS_PASSPHRASE_FILE") != "":
		return "HERMES_KEYS_PASSPHRASE_FILE"
	case credentialPath(env) != "":
		return "systemd credential " + CredentialName
	case env("HERMES_KEYS_PASSPHRASE") != "":
		return "HERMES_KEYS_PASSPHRASE"
	case io != nil && io.InTTY:
		return "terminal"
	}
	return ""
}

func credentialPath(env iox.Env) string {
	dir := env.Get("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, CredentialName)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// ReadPassphrase returns the passphrase from the first available source, in
// the order of DESIGN.md §3: HERMES_KEYS_PASSPHRASE_FILE, the systemd
// credential, HERMES_KEYS_PASSPHRASE, the terminal (no echo; asked twice when
// confirm is set). With none it returns ErrLocked.
func ReadPassphrase(env iox.Env, io *iox.Streams, prompt string, confirm bool) ([]byte, error) {
	if p := env.Get("HERMES_KEYS_PASSPHRASE_FILE"); p != "" {
		return readPassphraseFile(p, "HERMES_KEYS_PASSPHRASE_FILE")
	}
	if p := credentialPath(env); p != "" {
		// systemd makes credentials 0400 owned by the service user; still check.
		return readPassphraseFile(p, "systemd credential")
	}
	if v := env("HERMES_KEYS_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	if io == nil || !io.InTTY {
		return nil, xerr.WithHint(fmt.Errorf("%w: no passphrase available and no terminal to ask on", ErrLocked),
			"set HERMES_KEYS_PASSPHRASE_FILE to a 0600 file, use a systemd credential named "+CredentialName+", or run in a terminal")
	}
	pw, err := io.ReadSecret(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(pw) == 0 {
		return nil, xerr.WithHint(errors.New("empty passphrase"), "choose a passphrase of at least 8 characters")
	}
	if confirm {
		again, err := io.ReadSecret("confirm passphrase: ")
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return pw, nil
}

func readPassphraseFile(path, what string) ([]byte, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read passphrase from %s: %w", what, err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, xerr.WithHint(fmt.Errorf("passphrase file %s is empty", path), "write the passphrase into it, without other content")
	}
	return b, nil
}

// CheckPrivate refuses a regular file that group or other may read or
// write. Windows has no mode bits to check; ACLs there are the profile's.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return xerr.Hintf(fmt.Errorf("%w: %s has mode %04o", ErrInsecureFile, path, perm),
			"chmod 600 %s (and check nobody copied it)", path)
	}
	return nil
}
