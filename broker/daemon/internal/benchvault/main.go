// Command benchvault makes a file-backend vault with synthetic records for
// scripts/bench-daemon (the migrate command is not needed for a benchmark).
// The passphrase is read from -passphrase-file, never from argv.
//
//	go run ./broker/daemon/internal/benchvault -home DIR -passphrase-file F [-work-factor 18]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func main() {
	home := flag.String("home", "", "Hermes home to create the vault in")
	passFile := flag.String("passphrase-file", "", "0600 file holding the passphrase")
	wf := flag.Int("work-factor", 18, "scrypt work factor of identity.age (age's default is 18)")
	flag.Parse()
	if err := run(*home, *passFile, *wf); err != nil {
		fmt.Fprintln(os.Stderr, "benchvault:", err)
		os.Exit(1)
	}
}

func run(home, passFile string, wf int) error {
	if home == "" || passFile == "" {
		return fmt.Errorf("-home and -passphrase-file are required")
	}
	dir := filepath.Join(home, broker.DirName)
	env := iox.MapEnv(map[string]string{"HERMES_KEYS_PASSPHRASE_FILE": passFile})
	b, err := backends.Open("file", backends.Config{Env: env, Dir: dir, ScryptWorkFactor: wf})
	if err != nil {
		return err
	}
	ctx := context.Background()
	v, _, err := broker.Create(ctx, dir, b, broker.CreateOptions{})
	if err != nil {
		return err
	}
	// A Codex-sized login (about 5 KB: two JWTs and a refresh token) and
	// ten .env keys, all synthetic.
	jwt := "eyJ" + strings.Repeat("A", 2000) + "." + strings.Repeat("B", 300) + "." + strings.Repeat("C", 342)
	block, _ := json.Marshal(map[string]any{
		"auth_mode": "chatgpt",
		"tokens": map[string]string{
			"id_token": jwt, "access_token": jwt, "refresh_token": "rt_" + strings.Repeat("r", 60), "account_id": "synthetic",
		},
		"last_refresh": "2026-01-01T00:00:00Z",
	})
	var compact bytes.Buffer
	json.Compact(&compact, block)
	_, err = v.Update(ctx, func(c *broker.Contents) (bool, error) {
		now := v.Now()
		c.Put("providers/openai-codex", broker.KindProvider, compact.Bytes(), now)
		for i := range 10 {
			val, _ := json.Marshal(fmt.Sprintf("sk-synthetic-%02d-%s", i, strings.Repeat("x", 40)))
			c.Put(fmt.Sprintf("env/BENCH_KEY_%02d", i), broker.KindEnv, val, now)
		}
		return true, nil
	})
	return err
}
