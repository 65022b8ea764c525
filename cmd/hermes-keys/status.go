package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/spf13/cobra"
)

type statusOptions struct {
	app  *App
	JSON bool
}

func newStatusCmd(app *App) *cobra.Command {
	opts := &statusOptions{app: app}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the backend, the vault and what is sealed (never values)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return statusRun(cmd, opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type statusRecord struct {
	Key        string `json:"key"`
	Kind       string `json:"kind"`
	Generation uint64 `json:"generation"`
	Bytes      int    `json:"bytes"`
	UpdatedAt  string `json:"updated_at"`
}

type statusReport struct {
	Root       string         `json:"root"`
	Vault      bool           `json:"vault"`
	VaultID    string         `json:"vault_id,omitempty"`
	Backend    string         `json:"backend,omitempty"`
	Recovery   bool           `json:"recovery_key"`
	Generation uint64         `json:"generation"`
	Records    []statusRecord `json:"records"`
	Error      string         `json:"error,omitempty"`
}

func statusRun(cmd *cobra.Command, opts *statusOptions) error {
	a := opts.app
	root, err := a.hermesRoot()
	if err != nil {
		return err
	}
	rep := statusReport{Root: root, Records: []statusRecord{}}
	v, err := a.openVault()
	switch {
	case errors.Is(err, broker.ErrNoVault):
		// Not migrated yet: a report, not a failure.
	case err != nil:
		return err
	default:
		rep.Vault, rep.VaultID, rep.Backend, rep.Recovery = true, v.Meta.ID, v.Backend.Name, v.Meta.Recovery != ""
		c, err := v.Read(cmd.Context())
		if err != nil {
			return err
		}
		rep.Generation = c.Generation
		for _, k := range c.Keys() {
			r := c.Records[k]
			rep.Records = append(rep.Records, statusRecord{Key: k, Kind: r.Kind, Generation: r.Generation, Bytes: len(r.Value), UpdatedAt: r.UpdatedAt.Format("2006-01-02T15:04:05Z")})
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(a.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	out := a.IO.Out
	fmt.Fprintf(out, "hermes root: %s\n", rep.Root)
	if !rep.Vault {
		fmt.Fprintln(out, "vault:       none (run `hermes-keys migrate`)")
		return nil
	}
	fmt.Fprintf(out, "vault:       %s (generation %d)\n", rep.VaultID, rep.Generation)
	fmt.Fprintf(out, "backend:     %s\n", rep.Backend)
	fmt.Fprintf(out, "recovery:    %v\n", rep.Recovery)
	fmt.Fprintf(out, "sealed:      %d record(s)\n", len(rep.Records))
	for _, r := range rep.Records {
		fmt.Fprintf(out, "  %-40s %-10s gen %-3d %6d bytes  %s\n", r.Key, r.Kind, r.Generation, r.Bytes, r.UpdatedAt)
	}
	return nil
}
