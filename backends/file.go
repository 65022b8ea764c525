package backends

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// IdentityFile is the file backend's store, inside the vault directory.
const IdentityFile = "identity.age"

// fileLimit bounds one secret in the file backend. The whole file is
// decrypted on every open, so it stays small.
const fileLimit = 64 << 10

// maxIdentityFile caps what we read back; a larger file is not ours.
const maxIdentityFile = 4 << 20

// fileLockTimeout is how long a writer waits for another hermes-keys.
const fileLockTimeout = 10 * time.Second

// slowUnlock is how long opening identity.age may take before we say so:
// Hermes gives a secrets.command 3 s in all. A test lowers it.
var slowUnlock = 2 * time.Second

func init() {
	register("file", func(cfg Config) (*Backend, error) {
		if cfg.Dir == "" {
			return nil, errors.New("file backend needs a vault directory")
		}
		f := &fileHolder{cfg: cfg, path: filepath.Join(cfg.Dir, IdentityFile)}
		b := Guard("file", f, fileLimit, cfg.Timeout)
		b.Local = true // no keychain: the deadline is on the passphrase source only
		f.timeout = b.Timeout
		return b, nil
	})
}

// fileHolder keeps secrets in an age file encrypted to a passphrase
// (scrypt). The passphrase is asked once per process and kept only in
// memory.
type fileHolder struct {
	cfg  Config
	path string
	// timeout bounds reading a passphrase file, never a prompt or scrypt.
	timeout time.Duration

	mu         sync.Mutex
	passphrase []byte
	cacheCT    []byte            // ciphertext the cache was decrypted from
	cache      map[string]string // account -> secret
}

func (f *fileHolder) Probe(ctx context.Context) error {
	if PassphraseSource(f.cfg.Env, f.cfg.IO) == "" {
		const how = "set HERMES_KEYS_PASSPHRASE_FILE, use a systemd credential (hermes-keys-passphrase), set HERMES_KEYS_PASSPHRASE, or run in a terminal"
		if _, err := os.Lstat(f.path); errors.Is(err, os.ErrNotExist) {
			// Nothing is locked yet: say what creating one would need.
			return xerr.WithHint(noKeyFileYet{f.path}, how)
		}
		return xerr.WithHint(fmt.Errorf("%w: no passphrase source", ErrLocked), how)
	}
	// A passphrase file others can read is refused now, before a caller
	// creates anything on the strength of this probe.
	for _, p := range []string{f.cfg.Env.Get("HERMES_KEYS_PASSPHRASE_FILE"), credentialPath(f.cfg.Env)} {
		if p == "" {
			continue
		}
		if err := CheckPrivate(p); err != nil {
			return err
		}
		break // the first source is the one used
	}
	if _, err := os.Stat(f.path); err == nil {
		return CheckPrivate(f.path)
	}
	return nil
}

func (f *fileHolder) getPassphrase(confirm bool) ([]byte, error) {
	if f.passphrase != nil {
		return f.passphrase, nil
	}
	pw, err := readPassphrase(f.cfg.Env, f.cfg.IO, "passphrase for hermes-keys: ", confirm, f.timeout)
	if err != nil {
		return nil, err
	}
	f.passphrase = pw
	return pw, nil
}

// load reads and decrypts the store; a missing file is an empty store.
func (f *fileHolder) load() (map[string]string, bool, error) {
	ct, err := readCapped(f.path, maxIdentityFile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := CheckPrivate(f.path); err != nil {
		return nil, true, err
	}
	if f.cache != nil && bytes.Equal(ct, f.cacheCT) {
		return clone(f.cache), true, nil
	}
	pw, err := f.getPassphrase(false)
	if err != nil {
		return nil, true, err
	}
	start := time.Now()
	defer func() {
		// Honest about what was slow: local CPU work, not the keychain.
		if d := time.Since(start); d >= slowUnlock && f.cfg.IO != nil && f.cfg.IO.ErrOut != nil {
			fmt.Fprintf(f.cfg.IO.ErrOut, "hermes-keys: opening %s took %s of local work (scrypt of the passphrase, not the keychain); `hermes-keys doctor` says how to avoid it\n",
				f.path, d.Round(100*time.Millisecond))
		}
	}()
	id, err := age.NewScryptIdentity(string(pw))
	if err != nil {
		return nil, true, err
	}
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		var wrong *age.NoIdentityMatchError
		if errors.As(err, &wrong) {
			f.passphrase = nil
			return nil, true, xerr.WithHint(fmt.Errorf("%s: %w", f.path, ErrBadPassphrase),
				"check HERMES_KEYS_PASSPHRASE_FILE / the systemd credential; the passphrase is the one given at `hermes-keys migrate --backend file`")
		}
		return nil, true, xerr.WithHint(fmt.Errorf("%s is damaged: %v", f.path, err),
			"restore it from a backup, or recover the vault with your recovery key")
	}
	pt, err := io.ReadAll(io.LimitReader(r, maxIdentityFile))
	if err != nil {
		return nil, true, xerr.WithHint(fmt.Errorf("%s is damaged: %v", f.path, err),
			"restore it from a backup, or recover the vault with your recovery key")
	}
	m := map[string]string{}
	if err := json.Unmarshal(pt, &m); err != nil {
		return nil, true, fmt.Errorf("%s: unexpected content (not a hermes-keys identity file)", f.path)
	}
	f.cache, f.cacheCT = clone(m), ct
	return m, true, nil
}

func (f *fileHolder) Get(ctx context.Context, account string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, _, err := f.load()
	if err != nil {
		return "", err
	}
	v, ok := m[account]
	if !ok {
		return "", fmt.Errorf("file/%s: %w", account, ErrNotFound)
	}
	return v, nil
}

func (f *fileHolder) Set(ctx context.Context, account, secret string) error {
	return f.update(ctx, func(m map[string]string) error {
		m[account] = secret
		return nil
	})
}

func (f *fileHolder) Delete(ctx context.Context, account string) error {
	return f.update(ctx, func(m map[string]string) error {
		if _, ok := m[account]; !ok {
			return fmt.Errorf("file/%s: %w", account, ErrNotFound)
		}
		delete(m, account)
		return nil
	})
}

// update changes the store under its lock: read, change, encrypt, replace.
func (f *fileHolder) update(ctx context.Context, change func(map[string]string) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, fileLockTimeout)
	defer cancel()
	lk, err := lockfile.Acquire(lctx, f.path+".lock", 0)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	m, existed, err := f.load()
	if err != nil {
		return err
	}
	if err := change(m); err != nil {
		return err
	}
	if _, err := f.getPassphrase(!existed); err != nil {
		return err
	}
	ct, err := f.encrypt(m)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(f.path, ct, 0o600); err != nil {
		return err
	}
	f.cache, f.cacheCT = clone(m), ct
	return nil
}

func (f *fileHolder) encrypt(m map[string]string) ([]byte, error) {
	rcp, err := age.NewScryptRecipient(string(f.passphrase))
	if err != nil {
		return nil, err
	}
	if f.cfg.ScryptWorkFactor > 0 {
		rcp.SetWorkFactor(f.cfg.ScryptWorkFactor)
	}
	pt, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(pt); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// readCapped reads a regular file of at most max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a key file can be", path, fi.Size(), max)
	}
	return io.ReadAll(io.LimitReader(fh, max+1))
}

// noKeyFileYet is a file backend with no identity.age yet and no
// passphrase source: nothing is locked, but a passphrase is what is
// missing, so it counts as ErrLocked (exit 4) for callers.
type noKeyFileYet struct{ path string }

func (e noKeyFileYet) Error() string {
	return "no vault key file yet (" + e.path + "), and no passphrase source to create one with"
}

func (e noKeyFileYet) Is(target error) bool { return target == ErrLocked }
