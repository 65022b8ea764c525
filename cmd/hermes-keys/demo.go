package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/spf13/cobra"
)

func newDemoCmd(app *App) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Take a throwaway Hermes home with synthetic tokens through the whole flow",
		Long: `demo makes a temporary Hermes home holding synthetic tokens (JWTs minted on
the spot), migrates it into a vault with the best backend this machine has (a
passphrase file with a generated passphrase when no keychain is usable, and it
says so), then runs status, get, and run of a stand-in Hermes that reads its
tokens and rotates them, and checks that the rotation reached the vault and
that no plaintext is left. It prints each step and removes everything it
made, the keychain item included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return demoRun(cmd, app, keep) },
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary home (the keychain item is removed all the same)")
	return cmd
}

// demoBackend picks the best usable keychain, else the file backend with a
// generated passphrase.
func demoBackend(ctx context.Context, a *App, dir string) (name, pass string, err error) {
	cfg := a.backendConfig(dir)
	b, err := backends.Auto(ctx, cfg)
	if err == nil {
		return b.Name, "", nil
	}
	fmt.Fprintf(a.IO.Out, "   no keychain is usable here: %v\n", err)
	fmt.Fprintln(a.IO.Out, "   using the file backend with a generated passphrase, for this demo only")
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", "", err
	}
	return "file", hex.EncodeToString(rnd[:]), nil
}

// demoTokens are the synthetic secrets of the demo home.
type demoTokens struct {
	codexAccess, codexRefresh, codexID string
	nousAccess, nousRefresh            string
	apiKey                             string
}

func mintJWT(key []byte, claims jwt.MapClaims) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
}

func newDemoTokens(now time.Time) (demoTokens, error) {
	var key [32]byte
	rand.Read(key[:])
	rnd := func() string {
		var b [12]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	var t demoTokens
	var err error
	exp := now.Add(time.Hour).Unix()
	auth := map[string]any{"chatgpt_account_id": "demo-account", "chatgpt_plan_type": "plus"}
	if t.codexAccess, err = mintJWT(key[:], jwt.MapClaims{"iss": "https://auth.openai.com", "exp": exp, "iat": now.Unix(), "https://api.openai.com/auth": auth}); err != nil {
		return t, err
	}
	if t.codexID, err = mintJWT(key[:], jwt.MapClaims{"iss": "https://auth.openai.com", "exp": exp, "email": "demo@example.invalid", "https://api.openai.com/auth": auth}); err != nil {
		return t, err
	}
	t.codexRefresh = "rt_demo_" + rnd()
	t.nousAccess, t.nousRefresh = "nous-demo-access-"+rnd(), "nous-demo-refresh-"+rnd()
	t.apiKey = "sk-or-v1-demo" + rnd()
	return t, nil
}

func (t demoTokens) all() []string {
	return []string{t.codexAccess, t.codexRefresh, t.codexID, t.nousAccess, t.nousRefresh, t.apiKey}
}

func writeDemoHome(dir string, t demoTokens, now time.Time) error {
	auth := fmt.Sprintf(`{
  "version": 1,
  "active_provider": "openai-codex",
  "providers": {
    "openai-codex": {
      "tokens": {"access_token": %q, "refresh_token": %q, "id_token": %q, "account_id": "demo-account"},
      "last_refresh": %q,
      "auth_mode": "chatgpt"
    },
    "nous": {"access_token": %q, "refresh_token": %q, "portal_base_url": "https://portal.example.invalid"}
  }
}
`, t.codexAccess, t.codexRefresh, t.codexID, now.UTC().Format(time.RFC3339), t.nousAccess, t.nousRefresh)
	shared := fmt.Sprintf("{\n  \"access_token\": %q,\n  \"refresh_token\": %q\n}\n", t.nousAccess, t.nousRefresh)
	files := map[string]string{
		"auth.json":             auth,
		"shared/nous_auth.json": shared,
		".env":                  "# synthetic keys for the hermes-keys demo\nOPENROUTER_API_KEY=" + t.apiKey + "\nHERMES_LOG_LEVEL=info\n",
		"config.yaml":           "model:\n  provider: openai-codex\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// canaryScan lists the files under dir (the vault excluded: it is
// encrypted, and checked for plaintext too) that hold any of the values.
func canaryScan(dir string, values []string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeType != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range values {
			if v != "" && bytes.Contains(b, []byte(v)) {
				rel, _ := filepath.Rel(dir, p)
				found = append(found, rel)
				break
			}
		}
		return nil
	})
	return found, err
}

func demoRun(cmd *cobra.Command, a *App, keep bool) (err error) {
	ctx := cmd.Context()
	out := a.IO.Out
	now := a.Now()
	tmp, err := os.MkdirTemp("", "hermes-keys-demo-")
	if err != nil {
		return err
	}
	home := filepath.Join(tmp, "hermes")
	defer func() {
		if keep {
			fmt.Fprintf(out, "\nkept %s (--keep)\n", tmp)
			return
		}
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
		fmt.Fprintf(out, "\ncleaned up: removed %s\n", tmp)
	}()
	tok, err := newDemoTokens(now)
	if err != nil {
		return err
	}
	if err := writeDemoHome(home, tok, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "1. a throwaway Hermes home with synthetic tokens: %s\n", home)
	fmt.Fprintln(out, "   auth.json (openai-codex JWTs, a nous pair), shared/nous_auth.json, .env (OPENROUTER_API_KEY)")

	fmt.Fprintln(out, "2. choosing a backend for the vault key")
	vdir := filepath.Join(home, broker.DirName)
	name, pass, err := demoBackend(ctx, a, vdir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   backend: %s\n", name)

	// Every later step is the real command, run in-process against the
	// demo home.
	env := demoEnv(a.Env, home, pass)
	sub := func(stdout io.Writer, args ...string) error {
		ios := &iox.Streams{In: strings.NewReader(""), Out: stdout, ErrOut: prefixWriter(out, "   | "), InFd: -1}
		if code := Main(ios, env, append([]string{"--backend", name}, args...), demoScrypt(pass)); code != 0 {
			return fmt.Errorf("demo: `hermes-keys %s` exited %d", strings.Join(args, " "), code)
		}
		return nil
	}
	defer func() {
		if name == "file" {
			// identity.age is inside the demo home and goes with it;
			// opening it again only to delete it would cost a scrypt.
			return
		}
		b, berr := backends.Open(name, backends.Config{Env: env, IO: a.IO, Dir: vdir, Timeout: a.Timeout})
		meta, merr := broker.LoadMeta(vdir)
		if berr != nil || merr != nil {
			return
		}
		derr := b.Delete(context.WithoutCancel(ctx), meta.Account())
		if derr != nil && !errors.Is(derr, backends.ErrNotFound) && err == nil {
			err = fmt.Errorf("remove the demo vault key: %w", derr)
		}
		fmt.Fprintf(out, "\nremoved the demo key %s/%s from %s\n", backends.Service, meta.Account(), name)
	}()

	fmt.Fprintln(out, "\n3. hermes-keys migrate --env --yes")
	if err := sub(prefixWriter(out, "   "), "migrate", "--env", "--yes"); err != nil {
		return err
	}
	if found, err := canaryScan(home, tok.all()); err != nil || len(found) > 0 {
		return fmt.Errorf("demo: plaintext left after migrate in %v (%v)", found, err)
	}
	fmt.Fprintln(out, "   checked: no file of the home holds a token any more; auth.json is now:")
	skel, _ := os.ReadFile(filepath.Join(home, "auth.json"))
	prefixWriter(out, "   ").Write(skel)

	fmt.Fprintln(out, "\n4. hermes-keys status")
	if err := sub(prefixWriter(out, "   "), "status"); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n5. hermes-keys get openai-codex.tokens.access_token")
	var got bytes.Buffer
	if err := sub(&got, "get", "openai-codex.tokens.access_token"); err != nil {
		return err
	}
	if strings.TrimSpace(got.String()) != tok.codexAccess {
		return errors.New("demo: get did not return the sealed access token")
	}
	fmt.Fprintf(out, "   %s… (%d bytes; the same JWT that was in auth.json)\n", got.String()[:12], len(strings.TrimSpace(got.String())))

	// Ourselves by the name we were started with (a test harness
	// dispatches on it), else by the executable's path.
	self := os.Args[0]
	if _, err := exec.LookPath(self); err != nil {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\n6. hermes-keys run -- <a stand-in Hermes that reads its tokens and rotates them>")
	if err := sub(prefixWriter(out, "   "), "run", "-v", "--", self, demoHermesCmd); err != nil {
		return err
	}
	var after bytes.Buffer
	if err := sub(&after, "get", "openai-codex.tokens.refresh_token"); err != nil {
		return err
	}
	rotated := strings.TrimSpace(after.String())
	if rotated == tok.codexRefresh || !strings.HasPrefix(rotated, "rt_demo_rotated_") {
		return errors.New("demo: the rotated refresh token did not reach the vault")
	}
	fmt.Fprintln(out, "   checked: the vault holds the refresh token the stand-in rotated to")
	found, err := canaryScan(home, append(tok.all(), rotated))
	if err != nil || len(found) > 0 {
		return fmt.Errorf("demo: plaintext left after run in %v (%v)", found, err)
	}
	fmt.Fprintln(out, "   checked: after run, no file under the home (vault included) holds any token, old or new")
	return nil
}

// demoEnv is the caller's environment pointed at the demo home, with the
// generated passphrase for the file backend.
func demoEnv(base iox.Env, home, pass string) iox.Env {
	return func(k string) string {
		switch k {
		case "HERMES_HOME":
			return home
		case "HERMES_KEYS_PASSPHRASE":
			return pass
		case "HERMES_KEYS_PASSPHRASE_FILE", "CREDENTIALS_DIRECTORY", "HERMES_KEYS_BACKEND", "HERMES_SHARED_AUTH_DIR", "HERMES_KEYS_SOCKET":
			return ""
		}
		return base(k)
	}
}

// demoScrypt gives the file backend's throwaway demo vault a light scrypt
// cost (work factor 15): it is deleted a second later.
func demoScrypt(pass string) func(*App) {
	return func(a *App) {
		if pass != "" && a.ScryptWorkFactor == 0 {
			a.ScryptWorkFactor = 15
		}
	}
}

// prefixWriter indents every line written through it.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &prefixed{w: w, prefix: prefix, bol: true}
}

type prefixed struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	var buf bytes.Buffer
	for _, c := range b {
		if p.bol {
			buf.WriteString(p.prefix)
			p.bol = false
		}
		buf.WriteByte(c)
		if c == '\n' {
			p.bol = true
		}
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// demoHermesCmd is the hidden command the demo runs under `run`: a
// stand-in for Hermes that reads auth.json as Hermes does (json, no lock),
// checks the key run exported, and rotates the Codex pair under auth.lock.
const demoHermesCmd = "__demo-hermes"

func newDemoHermesCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    demoHermesCmd,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a := app
			dir := a.Env.Get("HERMES_HOME")
			if dir == "" {
				return errors.New("demo hermes: HERMES_HOME is not set")
			}
			h := hermes.Home{Root: dir, Dir: dir, SharedDir: filepath.Join(dir, "shared")}
			raw, err := os.ReadFile(h.AuthPath())
			if err != nil {
				return err
			}
			var doc struct {
				Providers map[string]struct {
					Tokens map[string]string `json:"tokens"`
				} `json:"providers"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("demo hermes: auth.json: %w", err)
			}
			toks := doc.Providers["openai-codex"].Tokens
			if toks["access_token"] == "" || toks["refresh_token"] == "" {
				return errors.New("demo hermes: no openai-codex tokens in auth.json")
			}
			fmt.Fprintf(a.IO.Out, "stand-in hermes: found the openai-codex tokens (access token %d bytes)\n", len(toks["access_token"]))
			// Hermes loads its API keys from the home's .env, where run
			// materialises them.
			ef, err := hermes.ReadEnvFile(h.EnvPath())
			if err != nil {
				return err
			}
			if v, _ := ef.Lookup("OPENROUTER_API_KEY"); len(v) == 0 {
				return errors.New("demo hermes: OPENROUTER_API_KEY is not in .env")
			}
			fmt.Fprintln(a.IO.Out, "stand-in hermes: OPENROUTER_API_KEY is in its .env")
			var rnd [12]byte
			rand.Read(rnd[:])
			newRT := "rt_demo_rotated_" + hex.EncodeToString(rnd[:])
			err = hermes.Update(cmd.Context(), h.AuthPath(), h.LockPath(), func(d *hermes.Object) (bool, error) {
				provs, _, err := d.GetObject("providers")
				if err != nil || provs == nil {
					return false, errors.New("demo hermes: no providers")
				}
				codex, _, err := provs.GetObject("openai-codex")
				if err != nil || codex == nil {
					return false, errors.New("demo hermes: no openai-codex block")
				}
				tokens, _, err := codex.GetObject("tokens")
				if err != nil || tokens == nil {
					return false, errors.New("demo hermes: no tokens")
				}
				v, _ := json.Marshal(newRT)
				tokens.Set("refresh_token", v)
				tb, _ := tokens.MarshalJSON()
				codex.Set("tokens", tb)
				cb, _ := codex.MarshalJSON()
				provs.Set("openai-codex", cb)
				pb, _ := provs.MarshalJSON()
				d.Set("providers", pb)
				return true, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.IO.Out, "stand-in hermes: rotated the refresh token under auth.lock (temp file, fsync, rename)")
			// Give run's watcher a moment, as a real session would.
			time.Sleep(300 * time.Millisecond)
			return nil
		},
	}
}
