package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
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
	Expires    string `json:"expires,omitempty"`
	Fields     int    `json:"secret_fields,omitempty"`
}

type plaintextReport struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Key     string `json:"key,omitempty"`
	Secrets int    `json:"secret_fields"`
}

type statusReport struct {
	Root       string         `json:"root"`
	Vault      bool           `json:"vault"`
	VaultID    string         `json:"vault_id,omitempty"`
	Backend    string         `json:"backend,omitempty"`
	Recovery   bool           `json:"recovery_key"`
	Generation uint64         `json:"generation"`
	Records    []statusRecord `json:"records"`
	// Plaintext lists secrets still in Hermes's files, and copies of them
	// (snapshots, .corrupt, leftover temp files) that migrate leaves alone.
	Plaintext []plaintextReport `json:"plaintext"`
	Error     string            `json:"error,omitempty"`
	// Sessions counts live `hermes-keys run`s (their tokens are
	// materialised on purpose) and what a crashed one left.
	Sessions sessionState `json:"sessions"`
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
		ctx, cancel := context.WithTimeout(cmd.Context(), a.LockTimeout)
		err = a.withSessions(ctx, v, func(st sessionState) error {
			rep.Sessions = st
			return nil
		})
		cancel()
		if err != nil {
			return err
		}
		if rep.Sessions.Recovered > 0 {
			if c, err = v.Read(cmd.Context()); err != nil {
				return err
			}
		}
		rep.Generation = c.Generation
		for _, k := range c.Keys() {
			r := c.Records[k]
			sr := statusRecord{Key: k, Kind: r.Kind, Generation: r.Generation, Bytes: len(r.Value), UpdatedAt: r.UpdatedAt.Format("2006-01-02T15:04:05Z")}
			var b hermes.Block
			if json.Unmarshal(r.Block, &b) == nil && !b.Expires.IsZero() {
				sr.Expires = b.Expires.UTC().Format("2006-01-02T15:04:05Z")
			}
			sr.Fields, _ = hermes.CountSecrets(r.Value)
			rep.Records = append(rep.Records, sr)
		}
	}
	rep.Plaintext = plaintextFound(a)
	if opts.JSON {
		enc := json.NewEncoder(a.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	out := a.IO.Out
	fmt.Fprintf(out, "hermes root: %s\n", rep.Root)
	for _, p := range rep.Plaintext {
		what := p.Kind
		if p.Key != "" {
			what += " " + p.Key
		}
		fmt.Fprintf(out, "plaintext:   %s (%s, %d secret field(s))\n", p.Path, what, p.Secrets)
	}
	if !rep.Vault {
		fmt.Fprintln(out, "vault:       none (run `hermes-keys migrate`)")
		return nil
	}
	fmt.Fprintf(out, "vault:       %s (generation %d)\n", rep.VaultID, rep.Generation)
	fmt.Fprintf(out, "backend:     %s\n", rep.Backend)
	fmt.Fprintf(out, "recovery:    %v\n", rep.Recovery)
	if rep.Sessions.Live > 0 {
		fmt.Fprintf(out, "runs:        %d live `hermes-keys run` session(s); the store is materialised until the last exits\n", rep.Sessions.Live)
	}
	fmt.Fprintf(out, "sealed:      %d record(s)\n", len(rep.Records))
	for _, r := range rep.Records {
		exp := ""
		if r.Expires != "" {
			exp = "  expires " + r.Expires
		}
		fmt.Fprintf(out, "  %-40s %-10s gen %-3d %2d field(s) %6d bytes  updated %s%s\n", r.Key, r.Kind, r.Generation, r.Fields, r.Bytes, r.UpdatedAt, exp)
	}
	return nil
}

// plaintextFound lists, for the root and every profile, the secret blocks
// still in auth.json and the other plaintext copies. It never reads a value
// into the report: only places and counts.
func plaintextFound(a *App) []plaintextReport {
	out := []plaintextReport{}
	homes, err := a.homes(true)
	if err != nil {
		return out
	}
	for _, h := range homes {
		if doc, err := hermes.ReadDoc(h.AuthPath()); err == nil {
			if _, blocks, err := hermes.Split(doc, hermes.Marker{SealedAt: time.Now()}); err == nil {
				for _, b := range blocks {
					out = append(out, plaintextReport{Path: h.AuthPath(), Kind: string(b.Kind), Key: b.Key, Secrets: len(b.Secrets)})
				}
			}
		}
		for _, p := range []string{h.AnthropicOAuthPath(), h.SharedNousPath()} {
			if data, err := os.ReadFile(p); err == nil {
				if n, _ := hermes.CountSecrets(data); n > 0 {
					out = append(out, plaintextReport{Path: p, Kind: "document", Secrets: n})
				}
			}
		}
		for _, c := range hermes.ScanCopies(h) {
			out = append(out, plaintextReport{Path: c.Path, Kind: string(c.Kind), Secrets: c.Secrets})
		}
	}
	return out
}
