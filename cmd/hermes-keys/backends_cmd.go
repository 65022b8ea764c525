package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/spf13/cobra"
)

type backendsOptions struct {
	app  *App
	JSON bool
}

func newBackendsCmd(app *App) *cobra.Command {
	opts := &backendsOptions{app: app}
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "List every key backend, usable or not and why",
		Long: `backends probes every key backend compiled into this binary, each within
the --timeout deadline, and says whether it is usable now and why not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return backendsRun(cmd, opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func backendsRun(cmd *cobra.Command, opts *backendsOptions) error {
	a := opts.app
	dir, err := a.vaultDir()
	if err != nil {
		return err
	}
	st := backends.ProbeAll(cmd.Context(), a.backendConfig(dir))
	if opts.JSON {
		enc := json.NewEncoder(a.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	tw := tabwriter.NewWriter(a.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tUSABLE\tAUTO\tDETAIL")
	for _, s := range st {
		usable, auto := "no", ""
		if s.Usable {
			usable = "yes"
		}
		if s.Auto {
			auto = "auto"
		}
		detail := s.Reason
		if s.Usable && !s.Persistent {
			detail = "forgotten at reboot"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, usable, auto, detail)
	}
	return tw.Flush()
}
