package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate"
	"github.com/spf13/cobra"
)

// hermesHome resolves the Hermes home as Hermes does (HERMES_HOME, the
// platform default, profiles).
func (a *App) hermesHome() (hermes.Home, error) {
	env := a.Env
	if a.HermesHome != "" {
		base := a.Env
		dir := a.HermesHome
		env = func(k string) string {
			if k == "HERMES_HOME" {
				return dir
			}
			return base(k)
		}
	}
	uh, _ := os.UserHomeDir()
	h, err := hermes.Resolve(env, runtime.GOOS, uh, a.Profile)
	if errors.Is(err, hermes.ErrBadProfile) && a.Profile != "" {
		return h, usageError{err} // a name Hermes refuses: exit 2
	}
	if err != nil {
		return h, err
	}
	return h, h.CheckOwned() // never another user's home (issue 10 item 3)
}

// scopedHomes is what migrate, unmigrate and seal act on: every home of
// the root (the root and each profile), unless -p names one.
func (a *App) scopedHomes(all bool) ([]hermes.Home, error) {
	homes, err := a.homes(all || a.Profile == "")
	if err != nil {
		return nil, err
	}
	// -p naming a profile Hermes does not have (deleted, renamed, never
	// created): refused, never created; its records stay orphaned.
	for _, h := range homes {
		if h.Profile != "" && !h.Exists() {
			return nil, noProfile(h)
		}
	}
	return homes, nil
}

// homes returns the chosen home, or the root and every profile.
func (a *App) homes(all bool) ([]hermes.Home, error) {
	h, err := a.hermesHome()
	if err != nil {
		return nil, err
	}
	if all {
		return h.RootHome().Profiles()
	}
	return []hermes.Home{h}, nil
}

// migrateTargets lists the files of h that migrate may replace or remove:
// auth.json always, the other secret documents (and .env with --env) when
// they exist.
func migrateTargets(h hermes.Home, env bool) []string {
	ps := []string{h.AuthPath()}
	maybe := []string{h.AnthropicOAuthPath(), h.SharedNousPath()}
	if env {
		maybe = append(maybe, h.EnvPath())
	}
	for _, p := range maybe {
		if _, err := os.Lstat(p); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

type migrateOptions struct {
	app                          *App
	DryRun, All, Env, Yes, Recov bool
	JSON, ScrubCopies            bool
}

func newMigrateCmd(app *App) *cobra.Command {
	opts := &migrateOptions{app: app}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Seal the Hermes store (and with --env, .env's secret keys) into the vault",
		Long: `migrate moves every secret document of the Hermes root and of each of its
profiles (auth.json, .anthropic_oauth.json, shared/nous_auth.json) into the
vault, creating the vault if needed; -p NAME narrows it to one home. It
leaves auth.json as a valid store without the sealed blocks plus a
"hermes_keys" marker. Each vault write is read back and verified before any
plaintext is replaced. Running it again seals whatever plaintext came back,
and says so when there is none.

.env is moved only with --env, because that changes how Hermes gets those
keys (through ` + "`hermes-keys run`" + `); without it, migrate ends by naming the
.env keys it left in plaintext and the command that moves them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return migrateRun(cmd, opts) },
	}
	f := cmd.Flags()
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan and change nothing")
	f.BoolVar(&opts.All, "all-profiles", false, "the root and every profile (the default unless -p names one)")
	f.BoolVar(&opts.Env, "env", false, "also move the secret keys of .env")
	f.BoolVar(&opts.Yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&opts.Recov, "recovery", false, "add a recovery key (to a new or an existing vault without one) and print it once")
	f.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&opts.ScrubCopies, "scrub-copies", false, "after confirmation, delete the plaintext copies (state snapshots, auth.json.corrupt, leftover temp files)")
	return cmd
}

func migrateRun(cmd *cobra.Command, opts *migrateOptions) error {
	a := opts.app
	ctx := cmd.Context()
	homes, err := a.scopedHomes(opts.All)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.LockTimeout)
	defer cancel()
	// Refuse a store we cannot read or lock before anything is created.
	for _, h := range homes {
		if _, err := hermes.ReadDoc(h.AuthPath()); err != nil {
			return xerr.WithHint(fmt.Errorf("%s: %w", h.AuthPath(), err),
				"nothing was changed; repair or restore auth.json (Hermes itself would replace an unreadable one with an empty store)")
		}
		if !opts.DryRun {
			// Every file migrate may replace or remove must be replaceable
			// now, before the lock file, the vault or anything else is
			// created: an unwritable home (or profile, or the directory a
			// symlinked auth.json points into) fails here, not after the
			// vault holds the secrets.
			for _, p := range migrateTargets(h, opts.Env) {
				if err := hermes.CheckWritable(p); err != nil {
					return xerr.WithHint(err, "nothing was changed; "+xerr.Hint(err))
				}
			}
		}
	}
	dir, err := vaultDirOf(homes[0].Root)
	if err != nil {
		return err
	}
	// The backend is chosen (and probed: a passphrase file others can read
	// is refused there) before any lock file or vault file is made.
	var newBackend *backends.Backend
	if !opts.DryRun && !broker.Exists(dir) {
		if newBackend, err = a.chooseBackend(ctx, dir, opts.Yes); err != nil {
			return err
		}
	}
	if !opts.DryRun {
		for _, h := range homes {
			lk, err := hermes.AcquireLock(ctx, h.LockPath(), 0)
			if err != nil {
				return err
			}
			lk.Unlock()
		}
	}
	var v *broker.Vault
	switch {
	case broker.Exists(dir):
		if v, err = a.openVault(); err != nil {
			return err
		}
		if opts.Recov && opts.DryRun {
			fmt.Fprintln(a.IO.ErrOut, "would add a recovery key to the vault")
		} else if opts.Recov {
			recovery, err := v.AddRecovery(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.IO.ErrOut, "added a recovery key to vault %s (%s)\n", v.Meta.ID, broker.Fingerprint(v.Meta.Recovery))
			fmt.Fprintf(a.IO.ErrOut, "recovery key (shown once; keep it offline, it opens the vault with `age -d -i`):\n%s\n", recovery)
		}
	case opts.DryRun:
		v = &broker.Vault{Dir: dir, Meta: broker.Meta{ID: "(new)"}}
	default:
		b := newBackend
		nv, recovery, err := broker.Create(ctx, dir, b, broker.CreateOptions{Recovery: opts.Recov, Now: a.Now})
		if err != nil {
			return err
		}
		v = nv
		fmt.Fprintf(a.IO.ErrOut, "created vault %s; its key is in %s\n", v.Meta.ID, b.Name)
		if recovery != "" {
			fmt.Fprintf(a.IO.ErrOut, "recovery key (shown once; keep it offline, it opens the vault with `age -d -i`):\n%s\n", recovery)
		}
	}
	var rep *migrate.Report
	seal := func(st sessionState) error {
		if st.Live > 0 {
			fmt.Fprintf(a.IO.ErrOut, "hermes-keys: %d `hermes-keys run` session(s) live: sealed into the vault, the files keep their tokens until the last run exits\n", st.Live)
		}
		var err error
		rep, err = migrate.Seal(ctx, homes, v, migrate.Options{DryRun: opts.DryRun, Env: opts.Env, Keep: st.Live > 0, Now: a.Now})
		return err
	}
	if opts.DryRun {
		err = seal(sessionState{})
	} else {
		err = a.withSessions(ctx, v, seal)
	}
	if err != nil {
		return err
	}
	if opts.ScrubCopies && !opts.DryRun && len(rep.Copies) > 0 {
		if err := scrubCopies(a, rep, opts.Yes); err != nil {
			return err
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(a.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	out := a.IO.Out
	verb := "sealed"
	if opts.DryRun {
		verb = "would seal"
	}
	if len(rep.Sealed) == 0 {
		fmt.Fprintln(out, "nothing to seal: no plaintext secret found (already migrated?)")
	}
	for _, it := range rep.Sealed {
		fmt.Fprintf(out, "%s %-45s %-10s %d secret field(s), %d bytes\n", verb, printableName(it.Key), it.Kind, it.Secrets, it.Bytes)
	}
	for _, c := range rep.Copies {
		fmt.Fprintf(out, "plaintext copy left alone: %s (%s, %d secret field(s))\n", printableName(c.Path), c.Kind, c.Secrets)
	}
	if !opts.Env {
		printEnvLeft(out, a, homes, opts.DryRun)
	}
	if opts.Env && !opts.DryRun {
		// Advice that works on the Hermes installed here (0.19.0 ignores
		// a secrets.command block).
		fmt.Fprint(out, envSnippetFor(detectHermes(cmd.Context(), a)))
	}
	if !opts.DryRun && len(rep.Sealed) > 0 {
		fmt.Fprintln(out, "run Hermes with: hermes-keys run -- hermes")
	}
	return nil
}

// printEnvLeft names the secret keys migrate leaves in the homes' .env
// files (it moves them only with --env), with counts and the command that
// moves them. Names only, never a value.
func printEnvLeft(out io.Writer, a *App, homes []hermes.Home, dryRun bool) {
	type left struct {
		path string
		keys []string
	}
	var found []left
	total := 0
	for _, h := range homes {
		ef, err := hermes.ReadEnvFile(h.EnvPath())
		if err != nil {
			continue
		}
		if keys := ef.SecretEnvKeys(); len(keys) > 0 {
			found = append(found, left{h.EnvPath(), keys})
			total += len(keys)
		}
	}
	if total == 0 {
		return
	}
	verb := "left"
	if dryRun {
		verb = "would leave"
	}
	fmt.Fprintf(out, "\n%s %d secret key(s) in plaintext in %d .env file(s) (.env is moved only with --env):\n", verb, total, len(found))
	for _, f := range found {
		names := make([]string, len(f.keys))
		for i, k := range f.keys {
			names[i] = printableName(k)
		}
		fmt.Fprintf(out, "  %s: %d key(s): %s\n", f.path, len(f.keys), strings.Join(names, ", "))
	}
	cmd := "hermes-keys migrate --env"
	if a.Profile != "" {
		cmd = "hermes-keys -p " + a.Profile + " migrate --env"
	}
	fmt.Fprintf(out, "move them with: %s\n", cmd)
}

const envSnippet = `
Hermes reads .env first and only fills missing variables from secret sources,
so the keys had to leave .env. To get them back as environment variables, add
this to config.yaml (POSIX), or run Hermes through ` + "`hermes-keys run`" + `:

  secrets:
    command:
      enabled: true
      command: "hermes-keys env"

`

type unmigrateOptions struct {
	app             *App
	All, Yes, Purge bool
}

func newUnmigrateCmd(app *App) *cobra.Command {
	opts := &unmigrateOptions{app: app}
	cmd := &cobra.Command{
		Use:   "unmigrate",
		Short: "Put the sealed blocks back into the plaintext files: the way out",
		Long: `unmigrate merges every sealed block back into the Hermes files (only where a
file lacks it: the file is the truth), the env records back into .env, and
removes the marker. The vault stays where it is. Only homes that exist are
written: the records of a profile Hermes deleted stay orphaned in the vault
(` + "`hermes-keys forget -p NAME`" + ` removes them), and no profile directory is
ever created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			homes, err := app.scopedHomes(opts.All)
			if err != nil {
				return err
			}
			v, err := app.openVault()
			if err != nil {
				return err
			}
			var rep *migrate.Report
			ctx, cancel := context.WithTimeout(cmd.Context(), app.LockTimeout)
			defer cancel()
			err = app.withSessions(ctx, v, func(st sessionState) error {
				if st.Live > 0 {
					// The last run out would seal and scrub it all again.
					return xerr.WithHint(fmt.Errorf("%d `hermes-keys run` session(s) are live; nothing was changed", st.Live),
						"quit the Hermes processes started through `hermes-keys run`, then retry")
				}
				var err error
				rep, err = migrate.Unseal(ctx, homes, v)
				return err
			})
			if err != nil {
				return err
			}
			for _, k := range rep.Restored {
				fmt.Fprintf(app.IO.Out, "restored %s\n", printableName(k))
			}
			if len(rep.Restored) == 0 {
				fmt.Fprintln(app.IO.Out, "nothing to restore")
			}
			if opts.Purge {
				return purgeVault(ctx, app, v, opts.Yes)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all-profiles", false, "the root and every profile (the default unless -p names one)")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.Purge, "purge", false, "then delete the vault and its key, once every record is back in a plaintext file")
	return cmd
}

// purgeVault deletes the vault and its key, but only when every record it
// holds is back in a Hermes file: purge must never be the step that loses
// a token.
func purgeVault(ctx context.Context, a *App, v *broker.Vault, yes bool) error {
	c, err := v.Read(ctx)
	if err != nil {
		return err
	}
	all, err := a.homes(true)
	if err != nil {
		return err
	}
	res, err := migrate.NewRoot(all, v, a.Now).Sync(ctx, migrate.SyncOptions{DryRun: true})
	if err != nil {
		return err
	}
	var missing []string
	for _, k := range c.Keys() {
		if res.Present[k] {
			continue
		}
		if name, ok := envRecordName(k); ok {
			h, err := homeOfScope(all, k)
			if err == nil {
				if f, err := hermes.ReadEnvFile(h.EnvPath()); err == nil {
					if _, ok := f.Lookup(name); ok {
						continue
					}
				}
			}
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		return xerr.WithHint(fmt.Errorf("not purged: %d record(s) are only in the vault: %s", len(missing), strings.Join(missing, ", ")),
			"unmigrate without -p puts every profile's records back; a record a file already holds in a different form stays in the vault until you remove it with care")
	}
	if !yes {
		if !a.IO.InTTY {
			return xerr.WithHint(errors.New("not purged: purging needs confirmation"), "pass --yes")
		}
		fmt.Fprintf(a.IO.ErrOut, "delete the vault %s and its key in %s? every record is back in the plaintext files [y/N] ", v.Meta.ID, v.Backend.Name)
		if !confirm(a.IO) {
			return errors.New("not purged")
		}
	}
	for _, name := range []string{broker.VaultFile, broker.MetaFile, backends.IdentityFile} {
		if err := os.Remove(filepath.Join(v.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := v.Backend.Delete(ctx, v.Meta.Account()); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return fmt.Errorf("vault files removed, but its key is still in %s: %w", v.Backend.Name, err)
	}
	os.RemoveAll(filepath.Join(v.Dir, "sessions"))
	os.Remove(filepath.Join(v.Dir, broker.LockFile))
	os.Remove(filepath.Join(v.Dir, backends.IdentityFile+".lock"))
	os.Remove(v.Dir)
	fmt.Fprintf(a.IO.Out, "purged vault %s and its key in %s\n", v.Meta.ID, v.Backend.Name)
	return nil
}

func envRecordName(k string) (string, bool) {
	i := strings.LastIndex(k, "env/")
	if i < 0 || strings.Contains(k[i+4:], "/") {
		return "", false
	}
	return k[i+4:], true
}

func homeOfScope(homes []hermes.Home, k string) (hermes.Home, error) {
	for _, h := range homes {
		if strings.HasPrefix(k, broker.Scope(h.Profile)+"env/") {
			return h, nil
		}
	}
	return hermes.Home{}, broker.ErrNotFound
}

func newSealCmd(app *App) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal whatever plaintext the Hermes store holds now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			homes, err := app.scopedHomes(all)
			if err != nil {
				return err
			}
			v, err := app.openVault()
			if errors.Is(err, broker.ErrNoVault) {
				return err
			}
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), app.LockTimeout)
			defer cancel()
			return app.withSessions(ctx, v, func(st sessionState) error {
				rep, err := migrate.Seal(ctx, homes, v, migrate.Options{Keep: st.Live > 0, Now: app.Now})
				if err != nil {
					return err
				}
				fmt.Fprintf(app.IO.Out, "sealed %d block(s)\n", len(rep.Sealed))
				if st.Live > 0 {
					fmt.Fprintf(app.IO.Out, "%d `hermes-keys run` session(s) live: the files keep their tokens until the last one exits\n", st.Live)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all-profiles", false, "the root and every profile (the default unless -p names one)")
	return cmd
}

// scrubCopies deletes the plaintext copies migrate found, after the user
// confirms (or --yes). They are copies: the sealed originals are in the
// vault, so nothing is lost that the vault does not hold.
func scrubCopies(a *App, rep *migrate.Report, yes bool) error {
	for _, c := range rep.Copies {
		fmt.Fprintf(a.IO.ErrOut, "will delete %s (%s, %d secret field(s))\n", c.Path, c.Kind, c.Secrets)
	}
	if !yes {
		if !a.IO.InTTY {
			return usageError{xerr.WithHint(errors.New("--scrub-copies needs confirmation and there is no terminal"), "pass --yes")}
		}
		fmt.Fprint(a.IO.ErrOut, "delete these plaintext copies? [y/N] ")
		if !confirm(a.IO) {
			return nil
		}
	}
	var kept []hermes.Copy
	for _, c := range rep.Copies {
		remove := os.Remove
		if c.Kind == hermes.CopyVault {
			// A clone's copy of the vault directory (listed only when it
			// is a real directory, never a link): all of it goes.
			remove = os.RemoveAll
		}
		if err := remove(c.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(a.IO.ErrOut, "could not delete %s: %v\n", c.Path, err)
			kept = append(kept, c)
		}
	}
	rep.Copies = kept
	return nil
}
