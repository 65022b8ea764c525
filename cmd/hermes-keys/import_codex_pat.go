package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate/codex"
)

// importCodexPAT seals a personal access token login as the manual
// credential_pool.openai-codex entry Hermes's own `auth add openai-codex
// --type api-key` would write. Hermes's provider block, if any, is left
// alone: the entry is one more credential of the pool. An earlier codex-pat
// entry (in the file or the vault) is replaced only with --replace.
func importCodexPAT(ctx context.Context, opts *importCodexOptions, login *codex.Login) error {
	a := opts.app
	if opts.TakeOver {
		return usageError{xerr.WithHint(errors.New("--take-over refreshes a ChatGPT login; a personal access token is never refreshed"), "rerun without --take-over")}
	}
	if opts.APIKey {
		fmt.Fprintln(a.IO.ErrOut, "warning: --api-key ignored: this codex login is a personal access token, not an API key")
	}
	home, err := a.hermesHome()
	if err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	scope := broker.Scope(home.Profile)
	if opts.DryRun {
		fmt.Fprintf(a.IO.Out, "dry run: would seal %spool/%s/<id> (%s)\n", scope, codex.HermesProvider, codex.HermesPATSource)
		fmt.Fprintln(a.IO.Out, "dry run: nothing was stored")
		return nil
	}
	if !opts.Yes {
		if !a.IO.InTTY {
			return usageError{xerr.WithHint(errors.New("confirmation needed and no terminal"), "pass --yes")}
		}
		fmt.Fprint(a.IO.ErrOut, "import this personal access token into Hermes's openai-codex pool? [y/N] ")
		if !confirm(a.IO) {
			return errors.New("import cancelled; nothing was stored")
		}
	}
	// As for a ChatGPT login: a live run's next seal would take the entry
	// back out of the vault, so none may be live until it is sealed.
	release, err := holdNoRunForImport(ctx, a, v.Dir)
	if err != nil {
		return err
	}
	defer release()

	var sealed string
	same := false
	err = hermes.Update(ctx, home.AuthPath(), home.LockPath(), func(doc *hermes.Object) (bool, error) {
		removeFromFile := false
		if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
			pl, err := placePAT(doc, c, scope, login.PAT.Reveal())
			if err != nil {
				return false, err
			}
			if pl.same {
				same = true
				return false, nil
			}
			if pl.previous && !opts.Replace {
				return false, xerr.WithCode(xerr.WithHint(errors.New("the openai-codex pool already has a codex-pat entry, with another token"),
					"rerun with --replace to overwrite it with this login's token"), xerr.ExitRefused)
			}
			entry, err := codex.HermesPATEntry(login, pl.id, pl.priority)
			if err != nil {
				return false, err
			}
			b, err := codex.HermesPATBlock(entry, pl.index)
			if err != nil {
				return false, err
			}
			changed := false
			for _, k := range pl.stale {
				delete(c.Records, k)
				changed = true
			}
			sealed = scope + b.Key
			removeFromFile = pl.inFile
			return putBlock(c, scope, b, a.Now()) || changed, nil
		}); err != nil {
			return false, err
		}
		changed := false
		if removeFromFile {
			changed = removePoolEntries(doc, func(e poolEntryInfo) bool { return e.Source == codex.HermesPATSource })
		}
		if opts.Activate {
			doc.Set("active_provider", json.RawMessage(`"`+codex.HermesProvider+`"`))
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return err
	}
	if same {
		fmt.Fprintln(a.IO.Out, "Hermes already has this personal access token; nothing to do")
		return nil
	}
	fmt.Fprintf(a.IO.Out, "sealed %s into vault %s (%s)\n", sealed, v.Meta.ID, filepath.Base(v.Dir))
	return nil
}

// patPlacement says where a PAT entry goes and what it replaces.
type patPlacement struct {
	// same: the pool already holds this very token.
	same bool
	// previous: a codex-pat entry with another token exists; inFile: in
	// the file (in plaintext), stale: its vault records.
	previous, inFile bool
	stale            []string
	id               string
	priority, index  int
}

// placePAT looks at credential_pool.openai-codex in the file (read under
// Hermes's lock) and in the vault. A replaced entry keeps its id, priority
// and position, as Hermes's _upsert_entry keeps them.
func placePAT(doc *hermes.Object, c *broker.Contents, scope, token string) (patPlacement, error) {
	var pl patPlacement
	ids := map[string]bool{}
	maxPriority := -1
	type tokenInfo struct {
		poolEntryInfo
		AccessToken any `json:"access_token"`
	}
	consider := func(raw json.RawMessage, index int, vaultKey string) {
		var e tokenInfo
		if json.Unmarshal(raw, &e) != nil {
			return
		}
		id, _ := e.ID.(string)
		ids[id] = true
		if p, ok := e.Priority.(float64); ok && p == float64(int(p)) && int(p) > maxPriority {
			maxPriority = int(p)
		}
		if e.AccessToken == token {
			pl.same = true
		}
		if e.Source != codex.HermesPATSource {
			return
		}
		if !pl.previous {
			pl.previous, pl.id, pl.index = true, id, index
			if p, ok := e.Priority.(float64); ok {
				pl.priority = int(p)
			}
		}
		if vaultKey == "" {
			pl.inFile = true
		} else {
			pl.stale = append(pl.stale, vaultKey)
		}
	}
	fileEntries := filePoolEntries(doc)
	for i, raw := range fileEntries {
		consider(raw, i, "")
	}
	prefix := scope + "pool/" + codex.HermesProvider + "/"
	vaultEntries := 0
	for _, k := range c.Keys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		vaultEntries++
		r := c.Records[k]
		index := len(fileEntries) + vaultEntries
		var b hermes.Block
		if len(r.Block) > 0 && json.Unmarshal(r.Block, &b) == nil {
			index = b.Index
		}
		consider(r.Value, index, k)
	}
	if pl.previous {
		return pl, nil
	}
	pl.index = len(fileEntries) + vaultEntries
	pl.priority = maxPriority + 1
	for {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return pl, err
		}
		if id := hex.EncodeToString(b[:]); !ids[id] {
			pl.id = id
			return pl, nil
		}
	}
}

// removePoolEntries takes the entries of credential_pool.openai-codex that
// drop selects out of doc; it reports whether any went.
func removePoolEntries(doc *hermes.Object, drop func(poolEntryInfo) bool) bool {
	p, ok, _ := doc.GetObject("credential_pool")
	if !ok || p == nil {
		return false
	}
	entries := filePoolEntries(doc)
	kept := entries[:0:0]
	for _, raw := range entries {
		var e poolEntryInfo
		if json.Unmarshal(raw, &e) == nil && drop(e) {
			continue
		}
		kept = append(kept, raw)
	}
	if len(kept) == len(entries) {
		return false
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, raw := range kept {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(raw)
	}
	buf.WriteByte(']')
	p.Set(codex.HermesProvider, buf.Bytes())
	raw, _ := p.MarshalJSON()
	doc.Set("credential_pool", raw)
	return true
}

// holdNoRunForImport holds off every `hermes-keys run` of the vault in dir
// until release, and refuses (nothing imported) while one is live.
func holdNoRunForImport(ctx context.Context, a *App, dir string) (release func(), err error) {
	release, err = session.HoldNoRun(ctx, dir, a.LockTimeout)
	if errors.Is(err, session.ErrLive) {
		return nil, xerr.WithHint(fmt.Errorf("%w: nothing was imported", err),
			"quit the Hermes processes started through `hermes-keys run`, then import")
	}
	return release, err
}
