package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate"
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
	// Profile is the home the file belongs to ("" for the root).
	Profile string `json:"profile,omitempty"`
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Key     string `json:"key,omitempty"`
	Secrets int    `json:"secret_fields"`
	// WorldReadable: a backup archive any user of the machine can read.
	WorldReadable bool `json:"world_readable,omitempty"`
}

type statusReport struct {
	Root     string `json:"root"`
	Vault    bool   `json:"vault"`
	VaultID  string `json:"vault_id,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Recovery bool   `json:"recovery_key"`
	// Recipients are the keys the vault is sealed to, by fingerprint;
	// RecipientsError says when vault.json disagrees (writes are refused).
	Recipients      []broker.RecipientInfo `json:"recipients,omitempty"`
	RecipientsError string                 `json:"recipients_error,omitempty"`
	Generation      uint64                 `json:"generation"`
	Records         []statusRecord         `json:"records"`
	// Plaintext lists secrets still in Hermes's files, and copies of them
	// (snapshots, .corrupt, leftover temp files) that migrate leaves alone.
	Plaintext []plaintextReport `json:"plaintext"`
	Error     string            `json:"error,omitempty"`
	// Sessions counts live `hermes-keys run`s (their tokens are
	// materialised on purpose) and what a crashed one left.
	Sessions sessionState `json:"sessions"`
	// Homes is the same report for each home: the root, then each
	// profile (records keyed without their profile prefix).
	Homes []homeReport `json:"homes"`
	// Orphans are the profiles the vault holds records of whose directory
	// is gone.
	Orphans []migrate.ScopeState `json:"orphaned_profiles,omitempty"`
}

// homeReport is what status says about one home.
type homeReport struct {
	Profile string `json:"profile"`
	Dir     string `json:"dir"`
	Missing bool   `json:"missing,omitempty"`
	// Orphaned: the directory is gone (Hermes deleted the profile) and
	// its records are never materialised; MovedTo: Hermes renamed it, and
	// the next seal or run moves them there.
	Orphaned  bool              `json:"orphaned,omitempty"`
	MovedTo   string            `json:"moved_to,omitempty"`
	Records   []statusRecord    `json:"records"`
	Plaintext []plaintextReport `json:"plaintext"`
}

// byHome groups the records and plaintext of rep by home: the homes that
// exist, and any profile the vault still holds records of.
func byHome(a *App, rep *statusReport) []homeReport {
	var out []homeReport
	idx := map[string]int{}
	add := func(profile, dir string, missing bool) int {
		if i, ok := idx[profile]; ok {
			return i
		}
		idx[profile] = len(out)
		out = append(out, homeReport{Profile: profile, Dir: dir, Missing: missing, Records: []statusRecord{}, Plaintext: []plaintextReport{}})
		return len(out) - 1
	}
	add("", rep.Root, false)
	if homes, err := a.homes(true); err == nil {
		for _, h := range homes {
			add(h.Profile, h.Dir, false)
		}
	}
	for _, r := range rep.Records {
		profile, key := "", r.Key
		if rest, ok := strings.CutPrefix(r.Key, "profiles/"); ok {
			if name, k, ok := strings.Cut(rest, "/"); ok {
				profile, key = name, k
			}
		}
		i, ok := idx[profile]
		if !ok {
			i = add(profile, filepath.Join(rep.Root, hermes.ProfilesDir, profile), true)
		}
		r.Key = key
		out[i].Records = append(out[i].Records, r)
	}
	for _, p := range rep.Plaintext {
		i, ok := idx[p.Profile]
		if !ok {
			i = add(p.Profile, filepath.Join(rep.Root, hermes.ProfilesDir, p.Profile), false)
		}
		out[i].Plaintext = append(out[i].Plaintext, p)
	}
	return out
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
		rep.Recipients = v.Recipients(c)
		for _, r := range rep.Recipients {
			rep.Recovery = rep.Recovery || r.Role == "recovery key"
		}
		if err := v.CheckRecipients(c); err != nil {
			rep.RecipientsError = err.Error()
			if h := xerr.Hint(err); h != "" {
				rep.RecipientsError += "; hint: " + h
			}
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
		if h, err := a.hermesHome(); err == nil {
			if homes, err := h.RootHome().Profiles(); err == nil {
				rep.Orphans = migrate.Orphans(c, h.RootHome(), homes, v.Meta.ID)
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
			sr.Fields = hermes.RecordSecretFields(r.Kind, r.Value)
			rep.Records = append(rep.Records, sr)
		}
	}
	rep.Plaintext = plaintextFound(a)
	rep.Homes = byHome(a, &rep)
	for _, o := range rep.Orphans {
		for i := range rep.Homes {
			if rep.Homes[i].Profile == o.Profile {
				rep.Homes[i].Orphaned, rep.Homes[i].MovedTo = o.MovedTo == "", o.MovedTo
			}
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
		printHomes(out, rep.Homes)
		return nil
	}
	fmt.Fprintf(out, "vault:       %s (generation %d)\n", rep.VaultID, rep.Generation)
	fmt.Fprintf(out, "backend:     %s\n", rep.Backend)
	fmt.Fprintf(out, "recovery:    %v\n", rep.Recovery)
	for _, r := range rep.Recipients {
		fmt.Fprintf(out, "recipient:   %s (%s)\n", r.Fingerprint, r.Role)
	}
	if rep.RecipientsError != "" {
		fmt.Fprintf(out, "WARNING:     %s\n", printableText(rep.RecipientsError))
	}
	if rep.Sessions.Live > 0 {
		fmt.Fprintf(out, "runs:        %d live `hermes-keys run` session(s); the store is materialised until the last exits\n", rep.Sessions.Live)
	}
	fmt.Fprintf(out, "sealed:      %d record(s)\n", len(rep.Records))
	printHomes(out, rep.Homes)
	return nil
}

// printHomes prints, for each home, its sealed records and the plaintext
// still found in it (places, kinds and counts; never a value).
func printHomes(out io.Writer, homes []homeReport) {
	for _, h := range homes {
		name := "root"
		if h.Profile != "" {
			name = "profile " + h.Profile
		}
		missing := ""
		if h.Missing {
			missing = ", directory missing"
		}
		fmt.Fprintf(out, "\n%s (%s%s): %d sealed, %d in plaintext\n", printableName(name), printableName(h.Dir), missing, len(h.Records), len(h.Plaintext))
		switch {
		case h.MovedTo != "":
			fmt.Fprintf(out, "  renamed by Hermes to %s: the next `hermes-keys seal` or run moves these records there\n", printableName(h.MovedTo))
		case h.Orphaned:
			fmt.Fprintf(out, "  orphaned: Hermes deleted this profile; its records are never materialised; remove them with: hermes-keys forget -p %s\n", printableName(h.Profile))
		}
		for _, r := range h.Records {
			exp := ""
			if r.Expires != "" {
				exp = "  expires " + r.Expires
			}
			fmt.Fprintf(out, "  sealed     %-36s %-9s gen %-3d %2d field(s) %6d bytes  updated %s%s\n", printableName(r.Key), printableName(r.Kind), r.Generation, r.Fields, r.Bytes, r.UpdatedAt, exp)
		}
		for _, p := range h.Plaintext {
			what := p.Kind
			if p.Key != "" {
				what += " " + printableName(p.Key)
			}
			if p.Kind == string(hermes.CopyVault) {
				fmt.Fprintf(out, "  copy       %s (a copy of the vault directory, never used; remove it: rm -r %s)\n", printableName(p.Path), printableName(p.Path))
				continue
			}
			if p.WorldReadable {
				what += ", readable by every user"
			}
			fmt.Fprintf(out, "  plaintext  %s (%s, %d secret field(s))\n", printableName(p.Path), what, p.Secrets)
		}
	}
	envKeys, envFiles := 0, map[string]bool{}
	for _, h := range homes {
		for _, p := range h.Plaintext {
			if p.Kind == "env" {
				envKeys++
				envFiles[p.Path] = true
			}
		}
	}
	if envKeys > 0 {
		fmt.Fprintf(out, "\n%d secret key(s) of %d .env file(s) are in plaintext; move them with: hermes-keys migrate --env\n", envKeys, len(envFiles))
	}
	archives := map[string]bool{}
	for _, h := range homes {
		for _, p := range h.Plaintext {
			if p.Kind == string(hermes.CopyArchive) {
				archives[p.Path] = true
			}
		}
	}
	if len(archives) > 0 {
		fmt.Fprintf(out, "\n%d backup archive(s) hold secrets in plaintext (hermes backup copies the live files); hermes-keys never changes them: delete them, or keep them off this machine (see docs/hermes.md, Backups)\n", len(archives))
	}
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
	seen := map[string]bool{} // the shared Nous store is every home's
	for _, h := range homes {
		pf := h.Profile
		if doc, err := hermes.ReadDoc(h.AuthPath()); err == nil {
			if _, blocks, err := hermes.Split(doc, hermes.Marker{SealedAt: time.Now()}); err == nil {
				for _, b := range blocks {
					out = append(out, plaintextReport{Profile: pf, Path: h.AuthPath(), Kind: string(b.Kind), Key: b.Key, Secrets: len(b.Secrets)})
				}
			}
		}
		for _, p := range []string{h.AnthropicOAuthPath(), h.SharedNousPath()} {
			if seen[p] {
				continue
			}
			seen[p] = true
			if data, err := os.ReadFile(p); err == nil {
				if n, _ := hermes.CountSecrets(data); n > 0 {
					out = append(out, plaintextReport{Profile: pf, Path: p, Kind: "document", Secrets: n})
				}
			}
		}
		if ef, err := hermes.ReadEnvFile(h.EnvPath()); err == nil {
			for _, k := range ef.SecretEnvKeys() {
				out = append(out, plaintextReport{Profile: pf, Path: h.EnvPath(), Kind: "env", Key: "env/" + k, Secrets: 1})
			}
		}
		for _, c := range hermes.ScanCopies(h) {
			out = append(out, plaintextReport{Profile: pf, Path: c.Path, Kind: string(c.Kind), Secrets: c.Secrets})
		}
	}
	// Backup archives (hermes backup, hermes update --backup) hold the
	// whole root: listed under the root, one row per secret member.
	if len(homes) > 0 {
		for _, ar := range hermes.ScanArchives(homes[0].Root, userHome(a)) {
			if len(ar.Members) == 0 {
				out = append(out, plaintextReport{Path: ar.Path, Kind: string(hermes.CopyArchive), WorldReadable: ar.WorldReadable})
			}
			for _, m := range ar.Members {
				out = append(out, plaintextReport{Path: ar.Path, Kind: string(hermes.CopyArchive), Key: m.Name, Secrets: m.Secrets, WorldReadable: ar.WorldReadable})
			}
		}
	}
	return out
}

// userHome is where `hermes backup` writes its archives: Python's
// Path.home(), i.e. $HOME, else the account's home directory.
func userHome(a *App) string {
	if h := a.Env.Get("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}
