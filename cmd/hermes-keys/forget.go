package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate"
	"github.com/spf13/cobra"
)

type forgetOptions struct {
	app         *App
	DryRun, Yes bool
}

func newForgetCmd(app *App) *cobra.Command {
	opts := &forgetOptions{app: app}
	cmd := &cobra.Command{
		Use:   "forget -p NAME",
		Short: "Remove the orphaned records of a deleted profile from the vault",
		Long: `forget removes from the vault every record of profile NAME, a profile Hermes
deleted (` + "`hermes profile delete NAME`" + `). Such records are orphaned: status and
doctor report them, nothing ever materialises them, and they stay in the
vault until forget removes them. It is the only command that does.

forget refuses a profile whose directory exists (its records are live) and
one that Hermes renamed (its skeleton now sits in another profile's
directory, and the next seal or run moves the records there). Record names
are printed, never values. Without a terminal it needs --yes.`,
		Example: "  hermes-keys forget -p work --dry-run\n  hermes-keys forget -p work --yes",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return forgetRun(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list the records that would be removed and change nothing")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func forgetRun(ctx context.Context, opts *forgetOptions) error {
	a := opts.app
	if a.Profile == "" {
		return usageError{xerr.WithHint(errors.New("forget needs the profile whose records to remove"), "hermes-keys forget -p NAME (`hermes-keys status` lists orphaned profiles)")}
	}
	home, err := a.hermesHome()
	if err != nil {
		return err
	}
	if home.Profile == "" {
		return usageError{xerr.WithHint(errors.New("the root's records are never orphaned"), "to take the root out of the vault, use `hermes-keys unmigrate`")}
	}
	homes, err := home.RootHome().Profiles()
	if err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.LockTimeout)
	defer cancel()
	name := printableName(home.Profile)
	keys, err := migrate.Forget(ctx, v, home.RootHome(), homes, home.Profile, true)
	if err != nil {
		return forgetError(err, name)
	}
	if len(keys) == 0 {
		fmt.Fprintf(a.IO.Out, "nothing to forget: the vault holds no record of profile %s\n", name)
		return nil
	}
	verb := "will remove"
	if opts.DryRun {
		verb = "would remove"
	}
	for _, k := range keys {
		fmt.Fprintf(a.IO.ErrOut, "%s %s\n", verb, printableName(k))
	}
	if opts.DryRun {
		return nil
	}
	if !opts.Yes {
		if !a.IO.InTTY {
			return usageError{xerr.WithHint(errors.New("forget needs confirmation and there is no terminal; nothing was removed"), "pass --yes")}
		}
		fmt.Fprintf(a.IO.ErrOut, "remove these %d record(s) of the deleted profile %s from the vault? they cannot be recovered [y/N] ", len(keys), name)
		if !confirm(a.IO) {
			return errors.New("nothing was removed")
		}
	}
	keys, err = migrate.Forget(ctx, v, home.RootHome(), homes, home.Profile, false)
	if err != nil {
		return forgetError(err, name)
	}
	for _, k := range keys {
		fmt.Fprintf(a.IO.Out, "removed %s\n", printableName(k))
	}
	return nil
}

func forgetError(err error, name string) error {
	switch {
	case errors.Is(err, migrate.ErrProfileExists):
		return xerr.Hintf(fmt.Errorf("profile %s exists; its records are live, nothing was removed", name),
			"delete the profile with `hermes profile delete %s` first, or remove a single login with `hermes -p %s auth remove …`", name, name)
	case errors.Is(err, migrate.ErrProfileMoved):
		return xerr.WithHint(fmt.Errorf("%w; nothing was removed", err),
			"`hermes-keys seal` (or the next `hermes-keys run`) moves the records to the renamed profile")
	}
	return err
}

// noProfile refuses a profile whose directory does not exist: hermes-keys
// never creates one (Hermes's `profile create` does), and a deleted
// profile's records stay orphaned until `forget` removes them.
func noProfile(h hermes.Home) error {
	name := printableName(h.Profile)
	return xerr.Hintf(fmt.Errorf("profile %s does not exist (%s): %w", name, printableName(h.Dir), os.ErrNotExist),
		"hermes-keys never creates a profile directory: create it with `hermes profile create %s`; a deleted profile's records are listed by `hermes-keys status` and removed by `hermes-keys forget -p %s`", name, name)
}
