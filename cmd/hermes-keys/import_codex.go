package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

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
the vault as Hermes's openai-codex login.

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
	key := broker.Scope(home.Profile) + "providers/" + codex.HermesProvider
	existing, err := existingCodexBlock(home, c, key)
	if err != nil {
		return err
	}
	if err := codex.CanReplace(existing, opts.Replace); err != nil {
		return err
	}
	if opts.DryRun {
		fmt.Fprintln(a.IO.Out, "dry run: nothing was stored")
		return nil
	}
	if !opts.TakeOver {
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
	if opts.TakeOver {
		url := a.Env.Get("HERMES_KEYS_CODEX_TOKEN_URL")
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
	if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
		changed := c.Put(key, broker.KindProvider, block, a.Now())
		if opts.APIKey {
			if val, err := codex.APIKeyValue(login); err == nil && val != nil {
				changed = c.Put(broker.Scope(home.Profile)+"env/"+codex.APIKeyEnv, broker.KindEnv, val, a.Now()) || changed
			}
		}
		return changed, nil
	}); err != nil {
		if opts.TakeOver {
			return xerr.WithHint(err, "the refreshed login could not be stored; run `codex login` and import again")
		}
		return err
	}
	// The file must not keep an older openai-codex block: the file is the
	// truth, so a plaintext block there would win over the import.
	if err := hermes.Update(ctx, home.AuthPath(), home.LockPath(), func(doc *hermes.Object) (bool, error) {
		changed := false
		if p, ok, _ := doc.GetObject("providers"); ok && p != nil {
			if _, had := p.Get(codex.HermesProvider); had {
				p.Delete(codex.HermesProvider)
				raw, _ := json.Marshal(p)
				doc.Set("providers", raw)
				changed = true
			}
		}
		if opts.Activate {
			doc.Set("active_provider", json.RawMessage(`"`+codex.HermesProvider+`"`))
			changed = true
		}
		return changed, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.IO.Out, "sealed %s into vault %s (%s)\n", key, v.Meta.ID, filepath.Base(v.Dir))
	return nil
}

// existingCodexBlock returns Hermes's current openai-codex login: the
// file's if it has one (the file is the truth), else the vault's.
func existingCodexBlock(home hermes.Home, c *broker.Contents, key string) (json.RawMessage, error) {
	doc, err := hermes.ReadDoc(home.AuthPath())
	if err != nil {
		return nil, err
	}
	if p, ok, _ := doc.GetObject("providers"); ok && p != nil {
		if b, ok := p.Get(codex.HermesProvider); ok {
			return b, nil
		}
	}
	if r := c.Records[key]; r != nil {
		return r.Value, nil
	}
	return nil, nil
}
