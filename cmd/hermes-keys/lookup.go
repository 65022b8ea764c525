package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/spf13/cobra"
)

// maxPut caps what put reads from stdin.
const maxPut = 1 << 20

type getOptions struct {
	app  *App
	Ref  string
	JSON bool
}

func newGetCmd(app *App) *cobra.Command {
	opts := &getOptions{app: app}
	cmd := &cobra.Command{
		Use:   "get REF",
		Short: "Print a sealed value",
		Long: `get prints one sealed value to stdout: a provider block (JSON), one field of
it, a pool entry or an env value. This command exists to print secrets; it
prints nothing else to stdout.

REF is one of:
  openai-codex                        a provider block
  openai-codex.tokens.access_token    one field of it
  pool:anthropic/0a1b2c               a credential pool entry
  env:OPENROUTER_API_KEY              one .env key`,
		Example: "  hermes-keys get openai-codex.tokens.access_token",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return getRun(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON, also for a single string")
	return cmd
}

func getRun(cmd *cobra.Command, opts *getOptions) error {
	a := opts.app
	ref, err := broker.ParseRef(opts.Ref)
	if err != nil {
		return usageError{err}
	}
	if err := a.canonProfile(false); err != nil {
		return err
	}
	if val, handled, err := a.daemonGet(cmd.Context(), opts.Ref); handled { // serve.go
		if err != nil {
			return err
		}
		return printValue(a.IO.Out, val, opts.JSON)
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	c, err := v.Read(cmd.Context())
	if err != nil {
		return err
	}
	_, rec, err := c.Lookup(a.Profile, ref)
	if err == nil {
		var val json.RawMessage
		if val, err = broker.Extract(rec.Value, ref.Path); err == nil {
			return printValue(a.IO.Out, val, opts.JSON)
		}
	}
	if errors.Is(err, broker.ErrNotFound) {
		return xerr.WithCode(xerr.WithHint(err, "`hermes-keys status` lists what is sealed"), xerr.ExitNotFound)
	}
	return err
}

// printValue prints a JSON string raw, anything else as indented JSON.
func printValue(w io.Writer, val json.RawMessage, asJSON bool) error {
	var s string
	if !asJSON && json.Unmarshal(val, &s) == nil {
		_, err := fmt.Fprintln(w, s)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, val, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

type putOptions struct {
	app          *App
	Ref          string
	IfGeneration int64
	JSON         bool
}

func newPutCmd(app *App) *cobra.Command {
	opts := &putOptions{app: app, IfGeneration: -1}
	cmd := &cobra.Command{
		Use:   "put REF",
		Short: "Store a value read from stdin",
		Long: `put reads a value from stdin, never from the command line, and seals it:
for env:NAME the value as text (one trailing newline is dropped), for a
provider block or pool entry a JSON object. With --if-generation N the put
succeeds only if the record is still at generation N (0: must not exist), so
two writers cannot silently overwrite each other.`,
		Example: "  printf %s \"$KEY\" | hermes-keys put env:OPENROUTER_API_KEY\n  hermes-keys put openai-codex --if-generation 3 < block.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return putRun(cmd, opts)
		},
	}
	cmd.Flags().Int64Var(&opts.IfGeneration, "if-generation", -1, "fail unless the record is at generation `N` (0: new)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func putRun(cmd *cobra.Command, opts *putOptions) error {
	a := opts.app
	// -1 is the flag's "no check"; below it would silently skip the check.
	if opts.IfGeneration < -1 {
		return usageError{xerr.WithHint(fmt.Errorf("--if-generation %d: a generation is 0 (record must be new) or more", opts.IfGeneration),
			"read the record's generation with `hermes-keys get REF --json`; nothing was written")}
	}
	ref, err := broker.ParseRef(opts.Ref)
	if err != nil {
		return usageError{err}
	}
	if len(ref.Path) > 0 {
		return usageError{xerr.WithHint(fmt.Errorf("put takes a whole record, not %s", opts.Ref), "get the block with --json, edit it, and put it back whole")}
	}
	if err := a.canonProfile(true); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(a.IO.In, maxPut+1))
	if err != nil {
		return err
	}
	if len(raw) > maxPut {
		return fmt.Errorf("stdin holds more than %d bytes", maxPut)
	}
	kind, val, err := putValue(ref, raw)
	if err != nil {
		return err
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	key := broker.Scope(a.Profile) + ref.Key
	var c *broker.Contents
	update := func() (err error) {
		c, err = v.Update(cmd.Context(), func(c *broker.Contents) (bool, error) {
			if opts.IfGeneration >= 0 {
				return true, c.PutIf(key, kind, val, uint64(opts.IfGeneration), a.Now())
			}
			return c.Put(key, kind, val, a.Now()), nil
		})
		return err
	}
	// Every record, env: ones too (run materialises them into .env), has
	// Hermes's file as the truth while a run is live.
	err = session.WhileNoRun(cmd.Context(), v.Dir, a.LockTimeout, update)
	if errors.Is(err, session.ErrLive) {
		return xerr.WithHint(fmt.Errorf("%w: Hermes's file is the truth for %s while it runs; nothing was written", err, key),
			"put it when no run is live (the next run materialises it; `hermes-keys status` recovers a crashed one), or let Hermes change it")
	}
	if errors.Is(err, broker.ErrGeneration) {
		return xerr.WithHint(err, "someone else wrote it first; get it again and retry")
	}
	if err != nil {
		return err
	}
	gen := c.Records[key].Generation
	if opts.JSON {
		return json.NewEncoder(a.IO.Out).Encode(map[string]any{"key": key, "generation": gen})
	}
	fmt.Fprintf(a.IO.ErrOut, "sealed %s (generation %d)\n", key, gen)
	return nil
}

func putValue(ref broker.Ref, raw []byte) (string, json.RawMessage, error) {
	if strings.HasPrefix(ref.Key, "env/") {
		s := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if s == "" || strings.ContainsAny(s, "\r\n\x00") {
			return "", nil, xerr.WithHint(errors.New("an env value must be one non-empty line"), "pipe the value without extra lines: printf %s \"$VALUE\" | hermes-keys put env:NAME")
		}
		b, _ := json.Marshal(s)
		return broker.KindEnv, b, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", nil, xerr.WithHint(errors.New("stdin is not a JSON object"), "a provider block or pool entry is put as a whole JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", nil, err
	}
	kind := broker.KindProvider
	switch {
	case strings.HasPrefix(ref.Key, "pool/"):
		kind = broker.KindPool
	case strings.HasPrefix(ref.Key, "file/"):
		kind = broker.KindDocument
	}
	return kind, buf.Bytes(), nil
}

type envOptions struct {
	app *App
}

func newEnvCmd(app *App) *cobra.Command {
	opts := &envOptions{app: app}
	return &cobra.Command{
		Use:   "env",
		Short: "Print KEY=VALUE lines of the sealed .env keys (for Hermes's secrets.command)",
		Long: `env prints one KEY=VALUE line per sealed .env key, for Hermes's
secrets.command source. It never prompts: if the vault cannot be opened
without a passphrase it fails at once with exit code 4.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return envRun(cmd, opts) },
	}
}

func envRun(cmd *cobra.Command, opts *envOptions) error {
	a := opts.app
	a.IO.InTTY = false // never prompt: Hermes gives this command 3 seconds
	if err := a.canonProfile(false); err != nil {
		return err
	}
	if env, ok := a.daemonEnv(cmd.Context()); ok {
		return writeEnv(a.IO.Out, a.IO.ErrOut, env)
	}
	v, err := a.openVault()
	if err != nil {
		return err
	}
	c, err := v.Read(cmd.Context())
	if err != nil {
		return err
	}
	env, err := c.EnvRecords(a.Profile)
	if err != nil {
		return err
	}
	return writeEnv(a.IO.Out, a.IO.ErrOut, env)
}

// writeEnv prints KEY=VALUE lines sorted by key, each value quoted where
// Hermes's command source would otherwise change it (hermesEnvValue); a
// value that would span lines cannot be expressed and is skipped with a
// warning.
func writeEnv(out, errOut io.Writer, env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		if !envLineOK(errOut, k, env[k]) { // env_filter.go
			continue
		}
		fmt.Fprintf(&buf, "%s=%s\n", k, hermesEnvValue(env[k]))
	}
	_, err := out.Write(buf.Bytes())
	return err
}
