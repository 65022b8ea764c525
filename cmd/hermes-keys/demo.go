package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/spf13/cobra"
)

func newDemoCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Take a throwaway Hermes home with synthetic tokens through the whole flow",
		Long: `demo makes a temporary Hermes home holding synthetic tokens, seals them into
a vault with the best backend this machine has (a passphrase file with a
generated passphrase when no keychain is usable, and it says so), shows what
each step did, and removes everything it made, keychain item included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return demoRun(cmd, app) },
	}
}

// demoBackend picks the best usable keychain, else the file backend with a
// generated passphrase handed over through the demo's own environment.
func demoBackend(ctx context.Context, a *App, dir string) (*backends.Backend, string, error) {
	cfg := a.backendConfig(dir)
	if b, err := backends.Auto(ctx, cfg); err == nil {
		return b, "", nil
	} else {
		fmt.Fprintf(a.IO.Out, "  no keychain is usable here (%v)\n", err)
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	pass := hex.EncodeToString(rnd[:])
	base := a.Env
	cfg.Env = func(k string) string {
		switch k {
		case "HERMES_KEYS_PASSPHRASE":
			return pass
		case "HERMES_KEYS_PASSPHRASE_FILE", "CREDENTIALS_DIRECTORY":
			return ""
		}
		return base(k)
	}
	if cfg.ScryptWorkFactor == 0 {
		cfg.ScryptWorkFactor = 15 // a throwaway vault; keep the demo quick
	}
	b, err := backends.Open("file", cfg)
	if err != nil {
		return nil, "", err
	}
	return b, "  using the file backend with a generated passphrase, for this demo only", nil
}

func demoRun(cmd *cobra.Command, a *App) (err error) {
	ctx := cmd.Context()
	out := a.IO.Out
	tmp, err := os.MkdirTemp("", "hermes-keys-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
		fmt.Fprintf(out, "\ncleaned up: removed %s\n", tmp)
	}()
	dir := filepath.Join(tmp, broker.DirName)
	fmt.Fprintf(out, "1. a throwaway Hermes home: %s\n", tmp)

	fmt.Fprintln(out, "2. choosing a backend for the vault key")
	b, note, err := demoBackend(ctx, a, dir)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(out, note)
	}
	fmt.Fprintf(out, "  backend: %s\n", b.Name)

	v, _, err := broker.Create(ctx, dir, b, broker.CreateOptions{Now: a.Now})
	if err != nil {
		return err
	}
	defer func() {
		if derr := b.Delete(context.WithoutCancel(ctx), v.Meta.Account()); derr != nil && !errors.Is(derr, backends.ErrNotFound) && err == nil {
			err = fmt.Errorf("remove demo vault key: %w", derr)
		}
		fmt.Fprintf(out, "\nremoved the demo key %s/%s from %s\n", backends.Service, v.Meta.Account(), b.Name)
	}()
	fmt.Fprintf(out, "3. created vault %s; its key is in %s as %s/%s\n", v.Meta.ID, b.Name, backends.Service, v.Meta.Account())

	block := json.RawMessage(`{"tokens":{"access_token":"demo-access-token","refresh_token":"demo-refresh-token"},"auth_mode":"chatgpt"}`)
	if _, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
		return c.Put("providers/openai-codex", "provider", block, a.Now()), nil
	}); err != nil {
		return err
	}
	fmt.Fprintln(out, "4. sealed a synthetic openai-codex block into vault.age")

	reopened, err := broker.Open(dir, b)
	if err != nil {
		return err
	}
	c, err := reopened.Read(ctx)
	if err != nil {
		return err
	}
	r := c.Records["providers/openai-codex"]
	if r == nil || string(r.Value) != string(block) {
		return errors.New("demo: the sealed block did not read back")
	}
	fmt.Fprintf(out, "5. reopened the vault with the key from %s: %d record(s), generation %d, block intact\n", b.Name, len(c.Records), c.Generation)
	return nil
}
