package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
)

// FuzzVaultMeta feeds vault.json (which anyone able to write the vault
// directory controls) to Open and a write. Whatever it says, nothing panics
// and vault.age stays encrypted to the sealed recipient only: one X25519
// stanza, the vault key's.
func FuzzVaultMeta(f *testing.F) {
	v, _, _ := newVault(f, false)
	if _, err := v.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("providers/nous", "provider", json.RawMessage(`{"access_token":"`+canary+`"}`), time.Now()), nil
	}); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(v.Dir, MetaFile))
	other, _ := age.GenerateX25519Identity()
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"recipients": [`), []byte(`"recipients": ["`+other.Recipient().String()+`", `), 1))
	f.Add([]byte(`{"format":1,"vault_id":"` + v.Meta.ID + `","recipients":["` + v.Meta.Recipients[0] + `","` + other.Recipient().String() + `"],"recovery_recipient":"` + other.Recipient().String() + `"}`))
	f.Add([]byte(`{"format":2,"vault_id":"` + v.Meta.ID + `","recipients":["x"]}`))
	f.Add([]byte(`not json`))
	metaPath := filepath.Join(v.Dir, MetaFile)
	f.Fuzz(func(t *testing.T, meta []byte) {
		if err := os.WriteFile(metaPath, meta, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(metaPath, good, 0o600)
		v2, err := Open(v.Dir, v.Backend)
		if err != nil {
			return
		}
		v2.Update(context.Background(), func(c *Contents) (bool, error) {
			return c.Put("env/F", "env", json.RawMessage(`"`+time.Now().String()+`"`), time.Now()), nil
		})
		ct, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
		hdr, _, _ := bytes.Cut(ct, []byte("\n---"))
		if n := bytes.Count(hdr, []byte("\n-> X25519 ")); n != 1 {
			t.Fatalf("vault.age has %d X25519 recipients after a write with vault.json %q", n, meta)
		}
	})
}
