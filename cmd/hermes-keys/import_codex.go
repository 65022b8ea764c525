package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate/codex"
	"github.com/spf13/cobra"
)

type importCodexOptions struct {
	app                                      *App
	CodexHome                                string
	DryRun, Replace, TakeOver, Yes, Activate bool
	APIKey                                   bool
}

func newImportCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import a login from another tool"}
	opts := &importCodexOptions{app: app}
	cc := &cobra.Command{
		Use:   "codex",
		Short: "Import a Codex CLI login, read-only and validated",
		Long: `import codex reads the Codex CLI login (auth.json, its keyring entry or its
encrypted secrets file) without changing anything under CODEX_HOME, validates
it (JWT structure, expiry, account and subject consistency; signatures are not
verified, as Codex does not verify them either), and only then seals it into
the vault as Hermes's openai-codex login: the provider block and the
device_code pool entry Hermes derives from it, in one vault write, so they are
materialised together. An API-key login is stored, with --api-key, as
env:OPENAI_API_KEY instead. A personal access token login (codex login
--with-access-token) becomes a manual entry of Hermes's openai-codex pool,
as ` + "`hermes auth add openai-codex --type api-key`" + ` would write it; an agent-identity
login is refused (Codex signs requests with its private key, which Hermes
cannot do), and an ephemeral one is never on disk. An existing Hermes login
is replaced only with --replace, or when Hermes's own needs a new login anyway.

Without --take-over, Codex and Hermes share one refresh token: whichever
refreshes first invalidates the other's copy. --take-over refreshes once so
Hermes owns a fresh pair, and Codex must then log in again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return importCodexRun(cmd, opts) },
	}
	f := cc.Flags()
	f.StringVar(&opts.CodexHome, "codex-home", "", "Codex home `dir` (default $CODEX_HOME, else ~/.codex)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "validate and show the summary; store nothing")
	f.BoolVar(&opts.Replace, "replace", false, "replace Hermes's existing openai-codex login")
	f.BoolVar(&opts.TakeOver, "take-over", false, "refresh once so Hermes owns the login (Codex must log in again)")
	f.BoolVar(&opts.Yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&opts.Activate, "activate", false, "make openai-codex Hermes's active provider")
	f.BoolVar(&opts.APIKey, "api-key", false, "for an API-key login, offer the key as env:OPENAI_API_KEY")
	cmd.AddCommand(cc)
	wrapArgs(cc)
	return cmd
}

type codexKeyring struct{ cfg backends.Config }

func (k codexKeyring) Get(ctx context.Context, service, account string) (string, error) {
	s, err := backends.ReadForeign(ctx, k.cfg, service, account)
	if errors.Is(err, backends.ErrNotFound) {
		return "", fmt.Errorf("%w: %v", codex.ErrNotFound, err)
	}
	return s, err
}

func importCodexRun(cmd *cobra.Command, opts *importCodexOptions) error {
	a := opts.app
	ctx := cmd.Context()
	login, err := codex.Read(ctx, codex.Options{
		CodexHome: opts.CodexHome, Env: a.Env, Now: a.Now,
		Keyring:  codexKeyring{cfg: a.backendConfig("")},
		TakeOver: opts.TakeOver, APIKey: opts.APIKey,
	})
	if err != nil {
		return err
	}
	fmt.Fprint(a.IO.Out, login.Summary.String())
	if login.Mode == codex.ModePersonalAccessToken {
		return importCodexPAT(ctx, opts, login)
	}
	// An API-key login (only with --api-key) becomes env:OPENAI_API_KEY
	// and nothing else; a ChatGPT login becomes the openai-codex block and
	// its device_code pool entry, plus, with --api-key, a key it carries.
	keyOnly := login.Mode == codex.ModeAPIKey
	if keyOnly && opts.TakeOver {
		return usageError{xerr.WithHint(errors.New("--take-over refreshes a ChatGPT login; this codex login is an API key"), "rerun without --take-over")}
	}

	home, err := a.hermesHome()
	if err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	c, err := v.Read(ctx)
	if err != nil {
		return err
	}
	scope := broker.Scope(home.Profile)
	key := scope + "providers/" + codex.HermesProvider
	envKey := scope + "env/" + codex.APIKeyEnv
	if !keyOnly {
		doc, err := hermes.ReadDoc(home.AuthPath())
		if err != nil {
			return err
		}
		if err := codex.CanReplace(existingCodexBlock(doc, c, key), opts.Replace); err != nil {
			return err
		}
	}
	storeKey := opts.APIKey && !login.APIKey.IsZero()
	if storeKey {
		inVault, inDotenv, err := existingAPIKey(home, c, envKey)
		if err != nil {
			return err
		}
		switch err := codex.CanStoreAPIKey(inVault || inDotenv, opts.Replace); {
		case err != nil && keyOnly:
			return err
		case err != nil:
			fmt.Fprintf(a.IO.ErrOut, "warning: Hermes already has %s; the codex login's key is not stored (use --replace to overwrite it)\n", codex.APIKeyEnv)
			storeKey = false
		case inDotenv:
			fmt.Fprintf(a.IO.ErrOut, "warning: %s also sets %s, and Hermes reads .env first; remove it there (or run `hermes-keys migrate --env`) for the imported key to be used\n", home.EnvPath(), codex.APIKeyEnv)
		}
	}
	if keyOnly && opts.Activate {
		fmt.Fprintln(a.IO.ErrOut, "warning: --activate ignored: an API key is not an openai-codex login")
	}
	if opts.DryRun {
		var would []string
		if !keyOnly {
			would = append(would, key, scope+"pool/"+codex.HermesProvider+"/<id> ("+codex.HermesPoolSource+")")
		}
		if storeKey {
			would = append(would, envKey)
		}
		if len(would) > 0 {
			fmt.Fprintf(a.IO.Out, "dry run: would seal %s\n", strings.Join(would, ", "))
		}
		fmt.Fprintln(a.IO.Out, "dry run: nothing was stored")
		return nil
	}
	if !keyOnly && !opts.TakeOver {
		fmt.Fprintln(a.IO.ErrOut, "warning: Codex and Hermes will share one refresh token; whichever refreshes first invalidates the other's copy (use --take-over to give it to Hermes)")
	}
	if !opts.Yes {
		if !a.IO.InTTY {
			return usageError{xerr.WithHint(errors.New("confirmation needed and no terminal"), "pass --yes")}
		}
		fmt.Fprint(a.IO.ErrOut, "import this login into Hermes? [y/N] ")
		if !confirm(a.IO) {
			return errors.New("import cancelled; nothing was stored")
		}
	}
	var keyVal json.RawMessage
	if storeKey {
		if keyVal, err = codex.APIKeyValue(login); err != nil {
			return err
		}
	}
	putKey := func(c *broker.Contents) bool {
		return keyVal != nil && c.Put(envKey, broker.KindEnv, keyVal, a.Now())
	}
	if keyOnly {
		if keyVal == nil {
			return errors.New("the codex login holds no API key to store")
		}
		if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) { return putKey(c), nil }); err != nil {
			return err
		}
		fmt.Fprintf(a.IO.Out, "sealed %s into vault %s (%s)\n", envKey, v.Meta.ID, filepath.Base(v.Dir))
		return nil
	}

	// No run may be live: its Hermes's file is the truth for the Codex
	// block, and its next seal would take the import back out. Checked
	// before a take-over spends Codex's refresh token, and held until the
	// block is sealed so that no run joins meanwhile.
	release, err := holdNoRunForImport(ctx, a, v.Dir)
	if err != nil {
		return err
	}
	defer release()
	if opts.TakeOver {
		url := testCodexTokenURL(a.Env) // "" outside a testhooks build
		if url == "" {
			url = codex.DefaultTokenURL
		}
		if login, err = login.TakeOver(ctx, a.HTTP, url, a.Now); err != nil {
			return err
		}
	}
	block, err := codex.HermesBlock(login)
	if err != nil {
		return err
	}
	// Under Hermes's lock, as a migration seals: read the store again,
	// seal the block and the pool entry Hermes derives from it in one
	// vault write, and only then take Hermes's older copies of either out
	// of the file (the file is the truth: a plaintext block there would
	// win over the import, and Hermes re-syncs the pair from either half).
	var sealed []string
	err = hermes.Update(ctx, home.AuthPath(), home.LockPath(), func(doc *hermes.Object) (bool, error) {
		if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
			if err := codex.CanReplace(existingCodexBlock(doc, c, key), opts.Replace); err != nil {
				return false, err
			}
			pl, err := placeCodex(doc, c, scope)
			if err != nil {
				return false, err
			}
			entry, err := codex.HermesPoolEntry(block, pl.existing, pl.id, pl.priority)
			if err != nil {
				return false, err
			}
			blocks, err := codex.HermesBlocks(block, entry, pl.providerIndex, pl.entryIndex)
			if err != nil {
				return false, err
			}
			changed := false
			keep := map[string]bool{}
			for _, b := range blocks {
				keep[scope+b.Key] = true
			}
			// Hermes keeps one device_code entry per pool: older ones
			// of this pool go, as _upsert_entry drops duplicates.
			for _, k := range pl.stale {
				if !keep[k] {
					delete(c.Records, k)
					changed = true
				}
			}
			sealed = sealed[:0]
			for _, b := range blocks {
				changed = putBlock(c, scope, b, a.Now()) || changed
				sealed = append(sealed, scope+b.Key)
			}
			if putKey(c) {
				changed = true
				sealed = append(sealed, envKey)
			}
			return changed, nil
		}); err != nil {
			return false, err
		}
		changed := removeCodexPair(doc)
		if opts.Activate {
			doc.Set("active_provider", json.RawMessage(`"`+codex.HermesProvider+`"`))
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		if opts.TakeOver {
			return xerr.WithHint(err, "the refreshed login could not be stored; run `codex login` and import again")
		}
		return err
	}
	fmt.Fprintf(a.IO.Out, "sealed %s into vault %s (%s)\n", strings.Join(sealed, ", "), v.Meta.ID, filepath.Base(v.Dir))
	return nil
}

// putBlock stores a block as migrate seals one: its value as the record
// value, its placement (key, kind, name, id, source, index, group,
// expiry) beside it, so materialising puts the pair back together.
func putBlock(c *broker.Contents, scope string, b hermes.Block, now time.Time) bool {
	meta := b
	meta.Value, meta.Secrets = nil, nil
	mb, err := json.Marshal(meta)
	if err != nil {
		mb = nil
	}
	changed := c.Put(scope+b.Key, string(b.Kind), b.Value, now)
	r := c.Records[scope+b.Key]
	if !bytes.Equal(r.Block, mb) {
		r.Block = mb
		changed = true
	}
	return changed
}

// codexPlacement says where an imported pair goes and what it replaces.
type codexPlacement struct {
	// existing is Hermes's current device_code entry of the openai-codex
	// pool (the file's, else the vault's), which the import updates in
	// place as Hermes's _upsert_entry would; nil when there is none.
	existing json.RawMessage
	// id and priority are those of a new entry.
	id       string
	priority int
	// providerIndex and entryIndex are the positions the pair goes back
	// to in providers and in credential_pool.openai-codex.
	providerIndex, entryIndex int
	// stale are the vault records of device_code entries of that pool.
	stale []string
}

type poolEntryInfo struct {
	ID       any `json:"id"`
	Source   any `json:"source"`
	Priority any `json:"priority"`
}

func (p poolEntryInfo) isDeviceCode() bool { return p.Source == codex.HermesPoolSource }

// placeCodex works out codexPlacement from the store as it is now (doc,
// read under Hermes's lock) and the vault.
func placeCodex(doc *hermes.Object, c *broker.Contents, scope string) (codexPlacement, error) {
	var pl codexPlacement
	ids := map[string]bool{}
	maxPriority := -1
	note := func(e poolEntryInfo) {
		if id, ok := e.ID.(string); ok {
			ids[id] = true
		}
		if p, ok := e.Priority.(float64); ok && p == float64(int(p)) && int(p) > maxPriority {
			maxPriority = int(p)
		}
	}
	// The file first: it is the truth when it holds the pair.
	providerInFile := false
	if p, ok, _ := doc.GetObject("providers"); ok && p != nil {
		pl.providerIndex = len(p.Members)
		if i := p.Index(codex.HermesProvider); i >= 0 {
			pl.providerIndex, providerInFile = i, true
		}
	}
	fileEntries := filePoolEntries(doc)
	pl.entryIndex = len(fileEntries)
	foundInFile := false
	for i, raw := range fileEntries {
		var e poolEntryInfo
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		note(e)
		if e.isDeviceCode() && !foundInFile {
			pl.existing, pl.entryIndex, foundInFile = raw, i, true
		}
	}
	// Then the vault's records of this home.
	prefix := scope + "pool/" + codex.HermesProvider + "/"
	vaultEntries := 0
	for _, k := range c.Keys() {
		r := c.Records[k]
		if k == scope+"providers/"+codex.HermesProvider {
			var b hermes.Block
			if len(r.Block) > 0 && json.Unmarshal(r.Block, &b) == nil && !providerInFile {
				pl.providerIndex = b.Index
			}
			continue
		}
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		var e poolEntryInfo
		if json.Unmarshal(r.Value, &e) != nil {
			continue
		}
		vaultEntries++
		ids[strings.TrimPrefix(k, prefix)] = true
		note(e)
		if !e.isDeviceCode() {
			continue
		}
		pl.stale = append(pl.stale, k)
		if pl.existing == nil {
			pl.existing = r.Value
			var b hermes.Block
			if len(r.Block) > 0 && json.Unmarshal(r.Block, &b) == nil {
				pl.entryIndex = b.Index
			}
		}
	}
	if pl.existing == nil {
		pl.entryIndex = len(fileEntries) + vaultEntries
		pl.priority = maxPriority + 1
		for {
			var b [3]byte
			if _, err := rand.Read(b[:]); err != nil {
				return pl, err
			}
			if id := hex.EncodeToString(b[:]); !ids[id] {
				pl.id = id
				break
			}
		}
	}
	return pl, nil
}

// filePoolEntries returns the entries of credential_pool.openai-codex in
// doc (none when it is missing or not a list).
func filePoolEntries(doc *hermes.Object) []json.RawMessage {
	p, ok, _ := doc.GetObject("credential_pool")
	if !ok || p == nil {
		return nil
	}
	raw, ok := p.Get(codex.HermesProvider)
	if !ok {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return nil
	}
	return entries
}

// removeCodexPair takes providers.openai-codex and the device_code
// entries of credential_pool.openai-codex out of doc; other entries of
// the pool stay.
func removeCodexPair(doc *hermes.Object) bool {
	changed := false
	if p, ok, _ := doc.GetObject("providers"); ok && p != nil {
		if p.Delete(codex.HermesProvider) {
			raw, _ := p.MarshalJSON()
			doc.Set("providers", raw)
			changed = true
		}
	}
	return removePoolEntries(doc, poolEntryInfo.isDeviceCode) || changed
}

// existingCodexBlock returns Hermes's current openai-codex login: the
// file's if it has one (the file is the truth), else the vault's.
func existingCodexBlock(doc *hermes.Object, c *broker.Contents, key string) json.RawMessage {
	if p, ok, _ := doc.GetObject("providers"); ok && p != nil {
		if b, ok := p.Get(codex.HermesProvider); ok {
			return b
		}
	}
	if r := c.Records[key]; r != nil {
		return r.Value
	}
	return nil
}

// existingAPIKey says whether Hermes already has OPENAI_API_KEY: sealed
// in the vault, or (usable) in the home's .env.
func existingAPIKey(home hermes.Home, c *broker.Contents, envKey string) (inVault, inDotenv bool, err error) {
	inVault = c.Records[envKey] != nil
	f, err := hermes.ReadEnvFile(home.EnvPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return inVault, false, nil
	case err != nil:
		return false, false, err
	}
	val, ok := f.Lookup(codex.APIKeyEnv)
	return inVault, ok && hermes.UsableSecret(val), nil
}
