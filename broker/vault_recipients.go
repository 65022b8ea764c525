package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// Fingerprint names an age recipient in output: "sha256:" and the first 8
// bytes of the SHA-256 of its string, in hex.
func Fingerprint(recipient string) string {
	h := sha256.Sum256([]byte(recipient))
	return "sha256:" + hex.EncodeToString(h[:8])
}

// RecipientInfo is one recipient of the vault as status shows it.
type RecipientInfo struct {
	Fingerprint string `json:"fingerprint"`
	// Role is "vault key" (the keychain-held identity) or "recovery key".
	Role string `json:"role"`
}

// Recipients describes the recipients sealed in c: the vault key first,
// then the recovery key. A format-1 vault (no list sealed yet) is
// described from the identity and vault.json's recovery entry, the list its
// next write will seal.
func (v *Vault) Recipients(c *Contents) []RecipientInfo {
	list, recovery := c.Recipients, c.Recovery
	if len(list) == 0 {
		list, recovery = v.legacyRecipients()
	}
	var out []RecipientInfo
	for i, r := range list {
		role := "vault key"
		switch {
		case r == recovery:
			role = "recovery key"
		case i > 0:
			role = "unknown"
		}
		out = append(out, RecipientInfo{Fingerprint: Fingerprint(r), Role: role})
	}
	return out
}

// legacyRecipients is the list a format-1 vault gets sealed with: its own
// recipient, derived from the identity (never from vault.json), and the
// recovery recipient, which only vault.json ever recorded for such a
// vault. Any other recipient vault.json lists is dropped: nothing
// authenticates it.
func (v *Vault) legacyRecipients() ([]string, string) {
	own := ""
	if v.id != nil {
		own = v.id.Recipient().String()
	} else if len(v.Meta.Recipients) > 0 {
		own = v.Meta.Recipients[0]
	}
	list := []string{own}
	rec := v.Meta.Recovery
	if rec == "" || rec == own || !slices.Contains(v.Meta.Recipients, rec) {
		return list, ""
	}
	if _, err := age.ParseX25519Recipient(rec); err != nil {
		return list, ""
	}
	return append(list, rec), rec
}

// sealRecipients gives a format-1 vault's contents their recipient list
// (see legacyRecipients) and seals the list with its MAC.
func (v *Vault) sealRecipients(c *Contents) error {
	if len(c.Recipients) == 0 {
		c.Recipients, c.Recovery = v.legacyRecipients()
	}
	if c.Recipients[0] != v.id.Recipient().String() {
		return fmt.Errorf("%w: the vault's first recipient is not its own key", ErrWrongKey)
	}
	c.RecipientsMAC = v.recipientsMAC(c)
	return nil
}

// recipientsMAC is HMAC-SHA256 over the list and the recovery entry, keyed
// by a hash of the identity, so that only its holder can make one.
func (v *Vault) recipientsMAC(c *Contents) string {
	key := sha256.Sum256([]byte("hermes-keys recipients mac\x00" + v.id.String()))
	m := hmac.New(sha256.New, key[:])
	for _, r := range c.Recipients {
		m.Write([]byte(r + "\n"))
	}
	m.Write([]byte("recovery:" + c.Recovery + "\n"))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckRecipients compares the recipients sealed in c with vault.json's
// and fails with ErrRecipients, naming the odd ones by fingerprint, when
// vault.json lists one the vault was not sealed to, names another recovery
// key, or the sealed list does not verify. vault.json lacking a sealed
// recipient is no danger (writes use the sealed list) and is repaired by
// the next write. A format-1 vault has no sealed list and passes: its
// next write seals one (legacyRecipients). Contents that a change function
// gave a new list are checked against the list they were read with.
func (v *Vault) CheckRecipients(c *Contents) error {
	if c.legacy {
		return nil
	}
	if c.forged {
		return refused(xerr.Hintf(fmt.Errorf("%w: the recipient list inside %s was not sealed with this vault's key; nothing was written", ErrRecipients, v.path()),
			"someone replaced vault.age; restore it and vault.json from a backup"))
	}
	var extra []string
	for _, r := range v.Meta.Recipients {
		if !slices.Contains(c.Recipients, r) {
			extra = append(extra, Fingerprint(r))
		}
	}
	if len(extra) > 0 {
		return refused(xerr.Hintf(fmt.Errorf("%w: %s lists %s, which the vault is not sealed to; nothing was written", ErrRecipients, filepath.Join(v.Dir, MetaFile), strings.Join(extra, ", ")),
			"if you did not add it, someone else did: remove it from vault.json (or restore vault.json from a backup); `hermes-keys status` lists the sealed recipients; a recovery key is added with `hermes-keys migrate --recovery`"))
	}
	if v.Meta.Recovery != "" && v.Meta.Recovery != c.Recovery {
		return refused(xerr.Hintf(fmt.Errorf("%w: %s names recovery key %s, the vault %s; nothing was written", ErrRecipients, filepath.Join(v.Dir, MetaFile), Fingerprint(v.Meta.Recovery), recoveryName(c.Recovery)),
			"restore vault.json from a backup, or remove its recovery_recipient line; `hermes-keys status` lists the sealed recipients"))
	}
	return nil
}

// refused gives a refusal exit 5 (refused by validation).
func refused(err error) error { return xerr.WithCode(err, xerr.ExitRefused) }

func recoveryName(r string) string {
	if r == "" {
		return "has none"
	}
	return "has " + Fingerprint(r)
}

// syncMeta makes vault.json say what was sealed in c (format, recipients),
// writing it only when it differs or is missing.
func (v *Vault) syncMeta(c *Contents) error {
	m := v.Meta
	m.Format, m.Recipients, m.Recovery = FormatVersion, slices.Clone(c.Recipients), c.Recovery
	if Exists(v.Dir) && m.Format == v.Meta.Format && slices.Equal(m.Recipients, v.Meta.Recipients) && m.Recovery == v.Meta.Recovery {
		return nil
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(v.Dir, MetaFile), append(mb, '\n'), 0o600); err != nil {
		return err
	}
	v.Meta = m
	return nil
}

// AddRecovery gives the vault a recovery key: a new X25519 identity whose
// recipient is sealed in the vault and listed in vault.json. It returns the
// identity (AGE-SECRET-KEY-1…), which is never stored: the caller shows it
// once. A vault that has one already fails with ErrHasRecovery.
func (v *Vault) AddRecovery(ctx context.Context) (string, error) {
	var secret string
	_, err := v.Update(ctx, func(c *Contents) (bool, error) {
		list, rec := c.Recipients, c.Recovery
		if len(list) == 0 {
			list, rec = v.legacyRecipients()
		}
		if rec != "" {
			return false, refused(xerr.WithHint(fmt.Errorf("%w (%s); nothing was changed", ErrHasRecovery, Fingerprint(rec)),
				"the recovery key was printed when it was made; to replace a lost one, make a new vault (unmigrate, then migrate --recovery)"))
		}
		rid, err := age.GenerateX25519Identity()
		if err != nil {
			return false, err
		}
		c.Recipients = append(slices.Clone(list), rid.Recipient().String())
		c.Recovery = rid.Recipient().String()
		secret = rid.String()
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}
