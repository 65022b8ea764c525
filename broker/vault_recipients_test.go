package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func putCanary(t *testing.T, v *Vault) error {
	t.Helper()
	_, err := v.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("providers/nous", "provider", json.RawMessage(`{"access_token":"`+canary+`"}`), time.Now()), nil
	})
	return err
}

func editMeta(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, MetaFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// decryptsWith reports whether id opens vault.age.
func decryptsWith(t *testing.T, dir string, id age.Identity) bool {
	t.Helper()
	ct, err := os.ReadFile(filepath.Join(dir, VaultFile))
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		return false
	}
	_, err = io.ReadAll(r)
	return err == nil
}

// Issue 10 item 7: a recipient appended to vault.json must not receive the
// next write; the write is refused, says why, and changes nothing.
func TestAppendedRecipientRefusesWrites(t *testing.T) {
	v, _, _ := newVault(t, false)
	if err := putCanary(t, v); err != nil {
		t.Fatal(err)
	}
	evil, _ := age.GenerateX25519Identity()
	editMeta(t, v.Dir, func(m map[string]any) {
		m["recipients"] = append(m["recipients"].([]any), evil.Recipient().String())
	})
	before := snapshot(t, v.Dir)
	v2, err := Open(v.Dir, v.Backend)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v2.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("providers/other", "provider", json.RawMessage(`{"k":"`+canary+`2"}`), time.Now()), nil
	})
	if !errors.Is(err, ErrRecipients) {
		t.Fatalf("write with an appended recipient: err %v, want ErrRecipients", err)
	}
	if !strings.Contains(err.Error(), Fingerprint(evil.Recipient().String())) || xerr.Hint(err) == "" {
		t.Errorf("error does not name the recipient's fingerprint or has no hint: %v / %q", err, xerr.Hint(err))
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatal("error holds the secret")
	}
	if after := snapshot(t, v.Dir); after != before {
		t.Fatal("a refused write changed the vault directory")
	}
	if decryptsWith(t, v.Dir, evil) {
		t.Fatal("the appended recipient can decrypt the vault")
	}
	// Reading still works, and the check names the problem for status.
	c, err := v2.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.CheckRecipients(c); !errors.Is(err, ErrRecipients) {
		t.Fatalf("CheckRecipients: %v", err)
	}
	infos := v2.Recipients(c)
	if len(infos) != 1 || infos[0].Role != "vault key" {
		t.Fatalf("sealed recipients %+v, want the vault key only", infos)
	}
}

// A swapped recovery_recipient is refused too.
func TestSwappedRecoveryRefusesWrites(t *testing.T) {
	v, _, _ := newVault(t, true)
	evil, _ := age.GenerateX25519Identity()
	editMeta(t, v.Dir, func(m map[string]any) {
		m["recipients"] = []any{v.Meta.Recipients[0], evil.Recipient().String()}
		m["recovery_recipient"] = evil.Recipient().String()
	})
	v2, _ := Open(v.Dir, v.Backend)
	if err := putCanary(t, v2); !errors.Is(err, ErrRecipients) {
		t.Fatalf("err %v, want ErrRecipients", err)
	}
	if decryptsWith(t, v.Dir, evil) {
		t.Fatal("the swapped-in recovery key can decrypt the vault")
	}
}

// A vault.age sealed by someone without the identity (age needs only the
// public key to encrypt) carries a recipient list whose MAC fails.
func TestForgedRecipientListRefused(t *testing.T) {
	v, _, _ := newVault(t, false)
	evil, _ := age.GenerateX25519Identity()
	own, _ := age.ParseX25519Recipient(v.Meta.Recipients[0])
	forged := Contents{Format: FormatVersion, VaultID: v.Meta.ID, Records: map[string]*Record{},
		Recipients: []string{own.String(), evil.Recipient().String()}, Recovery: evil.Recipient().String(), RecipientsMAC: strings.Repeat("0", 64)}
	pt, _ := json.Marshal(forged)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, own)
	w.Write(pt)
	w.Close()
	if err := os.WriteFile(filepath.Join(v.Dir, VaultFile), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	editMeta(t, v.Dir, func(m map[string]any) {
		m["recipients"] = []any{own.String(), evil.Recipient().String()}
		m["recovery_recipient"] = evil.Recipient().String()
	})
	v2, _ := Open(v.Dir, v.Backend)
	if err := putCanary(t, v2); !errors.Is(err, ErrRecipients) {
		t.Fatalf("err %v, want ErrRecipients", err)
	}
	if decryptsWith(t, v.Dir, evil) {
		t.Fatal("a forged recipient list got the secret")
	}
}

// writeLegacy turns v into a format-1 vault: no list inside vault.age,
// vault.json at format 1 with the given recipients and recovery entry.
func writeLegacy(t *testing.T, v *Vault, rcps []string, recovery string) {
	t.Helper()
	c := map[string]any{"format": 1, "vault_id": v.Meta.ID, "generation": 3,
		"records": map[string]any{"providers/nous": map[string]any{"kind": "provider", "generation": 1, "value": map[string]string{"access_token": canary}}}}
	pt, _ := json.Marshal(c)
	var ars []age.Recipient
	for _, s := range rcps {
		r, _ := age.ParseX25519Recipient(s)
		ars = append(ars, r)
	}
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, ars...)
	w.Write(pt)
	w.Close()
	if err := os.WriteFile(filepath.Join(v.Dir, VaultFile), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	editMeta(t, v.Dir, func(m map[string]any) {
		m["format"] = 1
		var l []any
		for _, r := range rcps {
			l = append(l, r)
		}
		m["recipients"] = l
		if recovery == "" {
			delete(m, "recovery_recipient")
		} else {
			m["recovery_recipient"] = recovery
		}
	})
}

// A format-1 vault opens; its next write seals the own recipient (from the
// identity) and vault.json's recovery entry, drops any other recipient
// vault.json lists, and rewrites vault.json at format 2.
func TestLegacyVaultUpgradedOnWrite(t *testing.T) {
	v, _, _ := newVault(t, false)
	own := v.Meta.Recipients[0]
	rec, _ := age.GenerateX25519Identity()
	stray, _ := age.GenerateX25519Identity()
	writeLegacy(t, v, []string{own, rec.Recipient().String(), stray.Recipient().String()}, rec.Recipient().String())

	v2, err := Open(v.Dir, v.Backend)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v2.Read(context.Background())
	if err != nil {
		t.Fatalf("format-1 vault does not open: %v", err)
	}
	if c.Records["providers/nous"] == nil {
		t.Fatal("format-1 records lost on read")
	}
	if err := putCanary(t, v2); err != nil { // same value: no write
		t.Fatal(err)
	}
	if _, err := v2.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("env/X", "env", json.RawMessage(`"v"`), time.Now()), nil
	}); err != nil {
		t.Fatalf("write to a format-1 vault: %v", err)
	}
	if !decryptsWith(t, v.Dir, rec) {
		t.Error("the recovery key of the format-1 vault no longer opens it")
	}
	if decryptsWith(t, v.Dir, stray) {
		t.Error("an unauthenticated extra recipient of vault.json still receives writes")
	}
	m, err := LoadMeta(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != FormatVersion || !slices.Equal(m.Recipients, []string{own, rec.Recipient().String()}) || m.Recovery != rec.Recipient().String() {
		t.Errorf("vault.json after upgrade: %+v", m)
	}
	c, err = v2.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Recipients) != 2 || v2.CheckRecipients(c) != nil {
		t.Errorf("sealed list %v / check %v", c.Recipients, v2.CheckRecipients(c))
	}
}

// Issue 10 item 15: a recovery key added to an existing vault opens it, is
// sealed (so later writes keep it and status names it), and a second one
// is refused.
func TestAddRecovery(t *testing.T) {
	v, _, _ := newVault(t, false)
	if err := putCanary(t, v); err != nil {
		t.Fatal(err)
	}
	secret, err := v.AddRecovery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rid, err := age.ParseX25519Identity(secret)
	if err != nil {
		t.Fatalf("AddRecovery returned no identity: %v", err)
	}
	if !decryptsWith(t, v.Dir, rid) {
		t.Fatal("the added recovery key does not open the vault")
	}
	v2, _ := Open(v.Dir, v.Backend)
	if v2.Meta.Recovery != rid.Recipient().String() {
		t.Fatalf("vault.json recovery %q", v2.Meta.Recovery)
	}
	if _, err := v2.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("env/Y", "env", json.RawMessage(`"y"`), time.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	if !decryptsWith(t, v.Dir, rid) {
		t.Fatal("a later write dropped the recovery key")
	}
	c, _ := v2.Read(context.Background())
	infos := v2.Recipients(c)
	if len(infos) != 2 || infos[1].Role != "recovery key" || infos[1].Fingerprint != Fingerprint(rid.Recipient().String()) {
		t.Fatalf("recipients %+v", infos)
	}
	before := snapshot(t, v.Dir)
	if _, err := v2.AddRecovery(context.Background()); !errors.Is(err, ErrHasRecovery) {
		t.Fatalf("second AddRecovery: %v", err)
	}
	if snapshot(t, v.Dir) != before {
		t.Fatal("a refused AddRecovery changed the vault")
	}
}

// Issue 10 item 13: a write whose temp file does not read back leaves
// vault.age byte-identical and no temp file behind.
func TestVerifyFailureKeepsOldVault(t *testing.T) {
	v, _, _ := newVault(t, false)
	if err := putCanary(t, v); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
	for name, arm := range map[string]func(){
		"corrupted temp file": func() {
			afterTempWritten = func(tmp string) {
				b, _ := os.ReadFile(tmp)
				b[len(b)-1] ^= 0xff
				os.WriteFile(tmp, b, 0o600)
			}
		},
		"encrypter to a foreign key": func() {
			other, _ := age.GenerateX25519Identity()
			encrypt = func(w io.Writer, _ ...age.Recipient) (io.WriteCloser, error) {
				return age.Encrypt(w, other.Recipient())
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			arm()
			defer func() { afterTempWritten, encrypt = nil, age.Encrypt }()
			_, err := v.Update(context.Background(), func(c *Contents) (bool, error) {
				return c.Put("env/Z", "env", json.RawMessage(`"z"`), time.Now()), nil
			})
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("err %v, want ErrVerify", err)
			}
			now, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
			if !bytes.Equal(now, old) {
				t.Fatal("vault.age changed after a failed verification")
			}
			ents, _ := os.ReadDir(v.Dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp.") {
					t.Errorf("temp file %s left behind", e.Name())
				}
			}
		})
	}
	c, err := v.Read(context.Background())
	if err != nil || c.Records["env/Z"] != nil {
		t.Fatalf("vault after failed writes: %v", err)
	}
}
