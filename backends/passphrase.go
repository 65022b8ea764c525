package backends

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

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
	return readPassphrase(env, io, prompt, confirm, DefaultTimeout)
}

// readPassphrase is ReadPassphrase with the deadline for a passphrase file
// (a file on a hung network mount must not hang us). The terminal prompt
// has none: a person types at their own pace.
func readPassphrase(env iox.Env, io *iox.Streams, prompt string, confirm bool, timeout time.Duration) ([]byte, error) {
	if p := env.Get("HERMES_KEYS_PASSPHRASE_FILE"); p != "" {
		return readPassphraseFileWithin(p, "HERMES_KEYS_PASSPHRASE_FILE", timeout)
	}
	if p := credentialPath(env); p != "" {
		// systemd makes credentials 0400 owned by the service user; still check.
		return readPassphraseFileWithin(p, "systemd credential", timeout)
	}
	if v := env("HERMES_KEYS_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	if io == nil || !io.InTTY {
		return nil, xerr.WithHint(fmt.Errorf("%w: no passphrase available and no terminal to ask on", ErrLocked),
			"set HERMES_KEYS_PASSPHRASE_FILE to a 0600 file, use a systemd credential named "+CredentialName+", or run in a terminal")
	}
	pw, err := readSecret(io, prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(pw) == 0 {
		return nil, xerr.WithHint(errors.New("empty passphrase"), "choose a passphrase of at least 8 characters")
	}
	if confirm {
		again, err := readSecret(io, "confirm passphrase: ")
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return pw, nil
}

// ErrSlowPassphraseFile means a passphrase file could not be read within
// the deadline: a local (or mounted) file, not the keychain, was slow.
var ErrSlowPassphraseFile = errors.New("reading the passphrase file did not finish in time")

func readPassphraseFileWithin(path, what string, timeout time.Duration) ([]byte, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1) // buffered: a late read never blocks
	read := readPassFile
	go func() {
		b, err := read(path, what)
		ch <- result{b, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-t.C:
		return nil, xerr.Hintf(fmt.Errorf("%w: %s (%s) after %s", ErrSlowPassphraseFile, path, what, timeout),
			"check the file system holding %s; the keychain is not involved", path)
	}
}

// readPassFile is readPassphraseFile; a unit test makes it hang, as a
// dead network mount would.
var readPassFile = readPassphraseFile

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
