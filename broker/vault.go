// Package broker keeps the vault and serves what is in it. The vault is one
// age file (vault.age) encrypted to an X25519 identity that a backend holds
// in the OS keychain, plus a metadata file (vault.json) that holds no secret.
//
// What the vault promises:
//   - every write happens under vault.lock and replaces vault.age
//     atomically (temp file, fsync, rename, directory fsync); the temp
//     file is read back, decrypted and compared before it replaces the old
//     vault.age, so a write that does not read back leaves it as it was;
//   - the recipients a write encrypts to are the ones sealed inside the
//     vault (Contents.Recipients), never vault.json's unauthenticated list:
//     a vault.json that lists a recipient the vault was not sealed to
//     refuses every write (ErrRecipients);
//   - a failed read (corrupt file, wrong key, missing keychain item) changes
//     nothing on disk;
//   - files that group or other can read are refused, not used;
//   - records carry a generation counter, so writers can detect that someone
//     else wrote in between.
package broker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// File names inside a Hermes root's vault directory (DESIGN.md §8).
const (
	DirName   = "hermes-keys"
	VaultFile = "vault.age"
	MetaFile  = "vault.json"
	LockFile  = "vault.lock"
)

// FormatVersion is the vault format this build writes. Format 2 seals the
// recipient list inside vault.age; format 1 (no list inside) still opens
// and is upgraded by its next write.
const FormatVersion = 2

// maxVaultSize caps vault.age; a store of 10,000 pool entries is a few MB.
const maxVaultSize = 256 << 20

// LockTimeout is how long a vault writer waits for another one.
var LockTimeout = 30 * time.Second

// Sentinel errors.
var (
	ErrNoVault      = errors.New("no vault")
	ErrNewerFormat  = errors.New("vault was written by a newer hermes-keys")
	ErrCorrupt      = errors.New("vault is damaged")
	ErrKeyMissing   = errors.New("vault key is missing from the keychain")
	ErrWrongKey     = errors.New("vault key does not open this vault")
	ErrVerify       = errors.New("vault write did not read back identically")
	ErrLockTimeout  = errors.New("timed out waiting for the vault lock")
	ErrGeneration   = errors.New("record changed since it was read")
	ErrVaultMissing = errors.New("vault file is missing")
	// ErrRecipients means vault.json names recipients other than the ones
	// sealed inside the vault: someone edited it, and writing would
	// encrypt the secrets to a key the owner never chose.
	ErrRecipients = errors.New("vault.json's recipients differ from the ones sealed in the vault")
	// ErrHasRecovery means AddRecovery found a recovery key already.
	ErrHasRecovery = errors.New("vault already has a recovery key")
	// ErrNotFound means the vault has no record under the asked name.
	ErrNotFound = errors.New("not found in the vault")
)

// Meta is vault.json. It holds no secret.
type Meta struct {
	Format  int    `json:"format"`
	ID      string `json:"vault_id"`
	Backend string `json:"backend"`
	// Recipients are the age public keys the vault is encrypted to; the
	// first is the keychain-held identity, a second the recovery key.
	Recipients []string  `json:"recipients"`
	Recovery   string    `json:"recovery_recipient,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Account is the keychain account under which the vault identity is held.
func (m Meta) Account() string { return "vault:" + m.ID }

// Record is one sealed item: a provider block, a pool entry, a whole
// document or an env value.
type Record struct {
	Kind       string          `json:"kind"`
	Generation uint64          `json:"generation"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Value      json.RawMessage `json:"value"`
	// Block is where the value goes back in its Hermes document (no secret).
	Block json.RawMessage `json:"block,omitempty"`
}

// Contents is the decrypted vault.
type Contents struct {
	Format     int                `json:"format"`
	VaultID    string             `json:"vault_id"`
	Generation uint64             `json:"generation"`
	Records    map[string]*Record `json:"records"`
	// Recipients (format 2) are the age recipients the vault is encrypted
	// to: the keychain identity's first, then the recovery key's. Being
	// inside the ciphertext, they are what vault.json's copy is checked
	// against.
	Recipients []string `json:"recipients,omitempty"`
	Recovery   string   `json:"recovery_recipient,omitempty"`
	// RecipientsMAC is an HMAC of the two fields above under a key derived
	// from the vault identity. age does not authenticate who encrypted:
	// anyone can seal a vault.age to the vault's public key, but only the
	// identity's holder can seal a recipient list that verifies.
	RecipientsMAC string `json:"recipients_mac,omitempty"`

	// legacy: read from a format-1 vault, which sealed no list.
	legacy bool
	// forged: the sealed list's MAC did not verify with the identity.
	forged bool
}

// Keys returns the record keys, sorted.
func (c *Contents) Keys() []string {
	k := make([]string, 0, len(c.Records))
	for key := range c.Records {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// Put stores value under key, bumping the record's generation. It reports
// whether anything changed; an identical value is left alone.
func (c *Contents) Put(key, kind string, value json.RawMessage, now time.Time) bool {
	old := c.Records[key]
	if old != nil && old.Kind == kind && bytes.Equal(old.Value, value) {
		return false
	}
	var gen uint64 = 1
	if old != nil {
		gen = old.Generation + 1
	}
	c.Records[key] = &Record{Kind: kind, Generation: gen, UpdatedAt: now.UTC(), Value: append(json.RawMessage(nil), value...)}
	return true
}

// PutIf is Put with a generation check: it fails with ErrGeneration unless
// the record's current generation is want (0 meaning "must not exist").
func (c *Contents) PutIf(key, kind string, value json.RawMessage, want uint64, now time.Time) error {
	var have uint64
	if r := c.Records[key]; r != nil {
		have = r.Generation
	}
	if have != want {
		return fmt.Errorf("%s: %w (generation is %d, expected %d)", key, ErrGeneration, have, want)
	}
	c.Put(key, kind, value, now)
	return nil
}

// Vault is an opened vault directory.
type Vault struct {
	Dir     string
	Meta    Meta
	Backend *backends.Backend
	Now     func() time.Time

	id *age.X25519Identity // cached after the first keychain read
}

// Exists reports whether dir holds a vault.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, MetaFile))
	return err == nil
}

// LoadMeta reads vault.json.
func LoadMeta(dir string) (Meta, error) {
	var m Meta
	p := filepath.Join(dir, MetaFile)
	b, err := readPrivate(p, 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return m, xerr.WithHint(fmt.Errorf("%w in %s", ErrNoVault, dir), "run `hermes-keys migrate` to create one")
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, xerr.WithHint(fmt.Errorf("%w: %s is not valid JSON", ErrCorrupt, p), "restore it from a backup; nothing was changed")
	}
	if m.Format > FormatVersion {
		return m, xerr.WithHint(fmt.Errorf("%w: %s has format %d, this build reads up to %d", ErrNewerFormat, p, m.Format, FormatVersion),
			"upgrade hermes-keys; nothing was changed")
	}
	if m.Format < 1 || m.ID == "" || len(m.Recipients) == 0 {
		return m, xerr.WithHint(fmt.Errorf("%w: %s lacks format, vault_id or recipients", ErrCorrupt, p), "restore it from a backup; nothing was changed")
	}
	return m, nil
}

// CreateOptions tune Create.
type CreateOptions struct {
	// Recovery adds a second recipient whose identity is returned once.
	Recovery bool
	Now      func() time.Time
}

// Create makes a new vault in dir with its identity held by b. With
// opts.Recovery it returns the recovery identity, which is never stored.
func Create(ctx context.Context, dir string, b *backends.Backend, opts CreateOptions) (*Vault, string, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, "", err
	}
	// Two first migrations at once must not pair one's vault.json with the
	// other's vault.age: create under the vault lock, and check again there.
	lctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	lk, err := lockfile.Acquire(lctx, filepath.Join(dir, LockFile), 0)
	if err != nil {
		return nil, "", err
	}
	defer lk.Unlock()
	if Exists(dir) {
		return nil, "", fmt.Errorf("a vault already exists in %s", dir)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, "", err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	meta := Meta{
		Format: FormatVersion, ID: hex.EncodeToString(rnd[:]), Backend: b.Name,
		Recipients: []string{id.Recipient().String()}, CreatedAt: opts.Now().UTC().Truncate(time.Second),
	}
	empty := &Contents{Format: FormatVersion, VaultID: meta.ID, Records: map[string]*Record{}, Recipients: []string{id.Recipient().String()}}
	var recovery string
	if opts.Recovery {
		rid, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, "", err
		}
		meta.Recipients = append(meta.Recipients, rid.Recipient().String())
		meta.Recovery = rid.Recipient().String()
		empty.Recipients, empty.Recovery = meta.Recipients, meta.Recovery
		recovery = rid.String()
	}
	// Order matters for crash safety: key first, then the (empty) vault,
	// then vault.json, whose presence is what makes the vault exist.
	if err := b.Set(ctx, meta.Account(), id.String()); err != nil {
		return nil, "", fmt.Errorf("store vault key in %s: %w", b.Name, err)
	}
	v := &Vault{Dir: dir, Meta: meta, Backend: b, Now: opts.Now, id: id}
	if err := v.write(empty); err != nil {
		return nil, "", err
	}
	return v, recovery, nil
}

// Open opens the vault in dir with its identity held by b.
func Open(dir string, b *backends.Backend) (*Vault, error) {
	m, err := LoadMeta(dir)
	if err != nil {
		return nil, err
	}
	return OpenMeta(dir, m, b), nil
}

// OpenMeta is Open with vault.json already read by the caller (one read
// per process).
func OpenMeta(dir string, m Meta, b *backends.Backend) *Vault {
	return &Vault{Dir: dir, Meta: m, Backend: b, Now: time.Now}
}

// ID is the vault's id, as its markers and keychain account name it.
func (v *Vault) ID() string { return v.Meta.ID }

func (v *Vault) path() string { return filepath.Join(v.Dir, VaultFile) }

func (v *Vault) identity(ctx context.Context) (*age.X25519Identity, error) {
	if v.id != nil {
		return v.id, nil
	}
	s, err := v.Backend.Get(ctx, v.Meta.Account())
	if errors.Is(err, backends.ErrNotFound) {
		return nil, xerr.Hintf(fmt.Errorf("%w: %s item %s/%s", ErrKeyMissing, v.Backend.Name, backends.Service, v.Meta.Account()),
			"if the keychain was reset, open the vault with your recovery key: age -d -i recovery.txt %s", v.path())
	}
	if err != nil {
		return nil, fmt.Errorf("read vault key from %s: %w", v.Backend.Name, err)
	}
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s item %s is not an age identity", ErrWrongKey, v.Backend.Name, v.Meta.Account())
	}
	if id.Recipient().String() != v.Meta.Recipients[0] {
		return nil, xerr.WithHint(fmt.Errorf("%w: the %s item %s belongs to another vault", ErrWrongKey, v.Backend.Name, v.Meta.Account()),
			"check --hermes-home and --backend")
	}
	v.id = id
	return id, nil
}

// Read decrypts the vault.
func (v *Vault) Read(ctx context.Context) (*Contents, error) {
	ct, err := readPrivate(v.path(), maxVaultSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, xerr.WithHint(fmt.Errorf("%w: %s", ErrVaultMissing, v.path()), "restore it from a backup")
	}
	if err != nil {
		return nil, err
	}
	id, err := v.identity(ctx)
	if err != nil {
		return nil, err
	}
	return v.decrypt(ct, id)
}

func (v *Vault) decrypt(ct []byte, id age.Identity) (*Contents, error) {
	corrupt := func(why string) error {
		return xerr.Hintf(fmt.Errorf("%w: %s: %s", ErrCorrupt, v.path(), why),
			"restore %s from a backup; nothing was changed", v.path())
	}
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, xerr.WithHint(fmt.Errorf("%w: %s", ErrWrongKey, v.path()), "check --hermes-home and --backend")
		}
		return nil, corrupt("not a readable age file")
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, corrupt("truncated or altered")
	}
	c := &Contents{}
	if err := json.Unmarshal(pt, c); err != nil {
		return nil, corrupt("unexpected content")
	}
	if c.Format > FormatVersion {
		return nil, xerr.WithHint(fmt.Errorf("%w: vault.age has format %d", ErrNewerFormat, c.Format), "upgrade hermes-keys; nothing was changed")
	}
	if c.VaultID != v.Meta.ID {
		return nil, corrupt("belongs to vault " + c.VaultID)
	}
	if c.Records == nil {
		c.Records = map[string]*Record{}
	}
	c.legacy = len(c.Recipients) == 0
	c.forged = !c.legacy && v.id != nil && !hmac.Equal([]byte(c.RecipientsMAC), []byte(v.recipientsMAC(c)))
	return c, nil
}

// Update changes the vault under its lock: read, change, write, verify. A
// change function that returns an error leaves the vault as it was; one
// that changes nothing (reported by returning false) writes nothing.
func (v *Vault) Update(ctx context.Context, change func(c *Contents) (bool, error)) (*Contents, error) {
	lctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	lk, err := lockfile.Acquire(lctx, filepath.Join(v.Dir, LockFile), 0)
	if errors.Is(err, lockfile.ErrTimeout) {
		return nil, xerr.WithCode(xerr.WithHint(fmt.Errorf("%w (%s)", ErrLockTimeout, filepath.Join(v.Dir, LockFile)),
			"another hermes-keys is writing; retry, or find it with `fuser` on the lock file"), xerr.ExitLockTimeout)
	}
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	c, err := v.Read(ctx)
	if err != nil {
		return nil, err
	}
	changed, err := change(c)
	if err != nil || !changed {
		return c, err
	}
	c.Generation++
	if err := v.write(c); err != nil {
		return nil, err
	}
	return c, nil
}

// write encrypts c to the recipients sealed in it, replaces vault.age with
// a copy that was read back and compared first, then brings vault.json's
// list in line with the sealed one (and creates vault.json on Create).
func (v *Vault) write(c *Contents) error {
	if v.id == nil {
		return fmt.Errorf("%w: identity not loaded", ErrVerify)
	}
	// Check what was read before sealing what will be written.
	if err := v.CheckRecipients(c); err != nil {
		return err
	}
	if err := v.sealRecipients(c); err != nil {
		return err
	}
	c.Format = FormatVersion
	pt, err := json.Marshal(c)
	if err != nil {
		return err
	}
	var rcps []age.Recipient
	for _, s := range c.Recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return fmt.Errorf("%w: a sealed recipient is not an age recipient", ErrCorrupt)
		}
		rcps = append(rcps, r)
	}
	var buf bytes.Buffer
	w, err := encrypt(&buf, rcps...)
	if err != nil {
		return err
	}
	if _, err := w.Write(pt); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := writeVerified(v.path(), buf.Bytes(), func(got []byte) error { return v.verify(got, pt) }); err != nil {
		return err
	}
	return v.syncMeta(c)
}

// encrypt is age.Encrypt; a test replaces it to make a write that does
// not read back.
var encrypt = age.Encrypt

// verify decrypts ct, the bytes of the temp file about to replace
// vault.age, and compares them with what was meant.
func (v *Vault) verify(ct, want []byte) error {
	r, err := age.Decrypt(bytes.NewReader(ct), v.id)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: the written vault decrypts to other content", ErrVerify)
	}
	return nil
}

// readPrivate reads a regular file of at most max bytes that only its
// owner can read.
func readPrivate(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := backends.CheckPrivate(path); err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d limit", ErrCorrupt, path, fi.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max+1))
}
