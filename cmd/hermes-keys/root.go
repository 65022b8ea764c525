package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/safefs"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// App is what every command gets: injected streams, environment, clock and
// HTTP client, plus the global flags.
type App struct {
	IO   *iox.Streams
	Env  iox.Env
	Now  func() time.Time
	HTTP *http.Client

	HermesHome string
	Profile    string
	Backend    string
	Timeout    time.Duration
	// LockTimeout bounds waiting for Hermes's locks (it holds them across
	// token refreshes, 25-30 s).
	LockTimeout time.Duration
	// ScryptWorkFactor is lowered by the demo and, in a testhooks build
	// only, by the suite (hooks_testhooks.go); 0 is age's default.
	ScryptWorkFactor int

	// metaDir and meta hold vault.json as the daemon check read it, for
	// the vault open that follows when no daemon answers (issue 12: one
	// read per get or env).
	metaDir string
	meta    broker.Meta
	// exitAfter: the process exits when Main returns (main, not tests).
	exitAfter bool
	// wholeTree: always build every command (tests compare the trees).
	wholeTree bool
}

// loadMeta is broker.LoadMeta. keep leaves what it read for the next call;
// a call without keep uses (and drops) what was kept, so a long-lived
// command (run) never opens the vault with a stale vault.json.
func (a *App) loadMeta(dir string, keep bool) (broker.Meta, error) {
	if a.metaDir == dir {
		m := a.meta
		if !keep {
			a.metaDir, a.meta = "", broker.Meta{}
		}
		return m, nil
	}
	m, err := broker.LoadMeta(dir)
	if err == nil && keep {
		a.metaDir, a.meta = dir, m
	}
	return m, err
}

// usageError marks errors that should exit 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// Main runs the command line and returns the exit code.
func Main(ios *iox.Streams, env iox.Env, args []string, tune ...func(*App)) int {
	app := &App{IO: ios, Env: env, Now: time.Now, HTTP: &http.Client{Timeout: 30 * time.Second}}
	for _, f := range tune {
		f(app)
	}
	root := newRootFor(app, args)
	root.SetArgs(args)
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	if !app.exitAfter {
		// signal.Stop waits for the signal goroutine to go idle, which
		// costs milliseconds on a busy machine; a process about to exit
		// need not wait (issue 12).
		defer stop()
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) && errors.Unwrap(err) == nil {
		return int(ec) // run: CMD's own status, CMD has said why
	}
	printError(ios, err)
	return exitCode(err)
}

func printError(ios *iox.Streams, err error) {
	msg := printableText(err.Error())
	fmt.Fprintf(ios.ErrOut, "hermes-keys: %s\n", msg)
	if h := xerr.Hint(err); h != "" {
		fmt.Fprintf(ios.ErrOut, "hint: %s\n", printableText(h))
	}
}

func exitCode(err error) int {
	var u usageError
	switch {
	case xerr.Code(err) != xerr.ExitFailed:
		return xerr.Code(err)
	case errors.As(err, &u), isCobraUsage(err):
		return xerr.ExitUsage
	case errors.Is(err, backends.ErrLocked), errors.Is(err, backends.ErrBadPassphrase):
		return xerr.ExitLocked
	case errors.Is(err, lockfile.ErrTimeout), errors.Is(err, broker.ErrLockTimeout):
		return xerr.ExitLockTimeout
	case errors.Is(err, broker.ErrNotFound):
		return xerr.ExitNotFound
	}
	return xerr.ExitFailed
}

// isCobraUsage recognises the argument errors cobra makes itself, which
// carry no type to test against.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(app *App) *cobra.Command { return newRootFor(app, nil) }

// hotCmd makes the commands scripts and Hermes's secrets.command run in
// loops. Issue 12: for them the tree holds that one command, so a start
// builds no other command's flags and cobra adds no completion command;
// what they print and how they fail is the same as in the whole tree.
func hotCmd(name string) func(*App) *cobra.Command {
	switch name {
	case "get":
		return newGetCmd
	case "env":
		return newEnvCmd
	case "version":
		return newVersionCmd
	}
	return nil
}

// hotCommand returns the command args run when it is one of hotCmd's
// and nothing else in args could need the rest of the tree; else "".
// The global flags that take a value are skipped as pflag parses them.
func hotCommand(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			switch name {
			case "hermes-home", "profile", "backend", "timeout", "lock-timeout":
				if !hasValue {
					i++
				}
			default:
				return "" // --help, --version, an unknown flag: the whole tree
			}
		case strings.HasPrefix(a, "-") && a != "-":
			if a != "-p" {
				if !strings.HasPrefix(a, "-p") {
					return ""
				}
				continue // -pNAME
			}
			i++
		default:
			if hotCmd(a) != nil {
				return a
			}
			return ""
		}
	}
	return ""
}

// newRootFor is newRoot with, when args run a hot command, only that
// command in the tree.
func newRootFor(app *App, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "hermes-keys",
		Short: "Keep Hermes's tokens and API keys in the OS keychain",
		Long: `hermes-keys moves the OAuth tokens and API keys that Hermes keeps in plaintext
(~/.hermes/auth.json, ~/.hermes/.env) into a vault whose key lives in the OS
keychain, and serves them back so Hermes keeps working.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if app.Backend == "" {
				app.Backend = app.Env.Get("HERMES_KEYS_BACKEND")
			}
			tuneForTests(app) // a no-op outside a testhooks build
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&app.HermesHome, "hermes-home", "", "Hermes home `dir` (default $HERMES_HOME, else the platform default)")
	pf.StringVarP(&app.Profile, "profile", "p", "", "Hermes profile `name`")
	pf.StringVar(&app.Backend, "backend", "", "key backend: auto, keychain, secret-service, wincred, kwallet, pass, keyctl or file (default $HERMES_KEYS_BACKEND, else the vault's, else auto)")
	pf.DurationVar(&app.Timeout, "timeout", backends.DefaultTimeout, "deadline for each keychain call")
	pf.DurationVar(&app.LockTimeout, "lock-timeout", 30*time.Second, "how long to wait for Hermes's auth.lock (exit 6 after)")

	if hot := hotCommand(args); hot != "" && !app.wholeTree {
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(hotCmd(hot)(app))
		for _, c := range root.Commands() {
			wrapArgs(c)
		}
		return root
	}
	root.AddCommand(
		newVersionCmd(app),
		newBackendsCmd(app),
		newStatusCmd(app),
		newDemoCmd(app),
		newGetCmd(app),
		newMigrateCmd(app),
		newUnmigrateCmd(app),
		newSealCmd(app),
		newForgetCmd(app),
		newImportCmd(app),
		newPutCmd(app),
		newEnvCmd(app),
		newServeCmd(app),
		newUnlockCmd(app),
		newLockCmd(app),
		newDoctorCmd(app),
		newRunCmd(app),
		newDemoHermesCmd(app),
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	inner := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := inner(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// hermesRoot resolves the Hermes root directory: the flag, $HERMES_HOME or
// the platform default. A profile home's root is two levels up.
func (a *App) hermesRoot() (string, error) {
	home := a.HermesHome
	if home == "" {
		home = a.Env.Get("HERMES_HOME")
	}
	if home == "" {
		if runtime.GOOS == "windows" {
			if la := a.Env.Get("LOCALAPPDATA"); la != "" {
				home = filepath.Join(la, "hermes")
			}
		}
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", xerr.WithHint(errors.New("cannot find the Hermes home"), "set HERMES_HOME or pass --hermes-home")
			}
			home = filepath.Join(h, ".hermes")
		}
	}
	home, _ = filepath.Abs(home)
	if parent := filepath.Dir(home); filepath.Base(parent) == "profiles" {
		home = filepath.Dir(parent)
	}
	// Like git's safe.directory: never another user's root, whose planted
	// links would be followed with the caller's rights.
	if err := (hermes.Home{Root: home, Dir: home, SharedDir: filepath.Join(home, "shared")}).CheckOwned(); err != nil {
		return "", err
	}
	return home, nil
}

// canonProfile resolves the home exactly as run and Hermes do (-p
// normalised and validated, HERMES_HOME naming a profile directory, the
// sticky active profile) and sets a.Profile to that home's canonical
// profile name ("" for the root), so that get, put, env and the daemon's
// answers are the profile's and never the root's by mistake. With
// mustExist, a profile that does not exist is refused (put: Hermes would
// never read what was stored for it).
func (a *App) canonProfile(mustExist bool) error {
	h, err := a.hermesHome()
	if err != nil {
		return err
	}
	if mustExist && h.Profile != "" && !h.Exists() {
		return xerr.WithHint(fmt.Errorf("profile %s: %w (no directory %s)", h.Profile, hermes.ErrNoProfile, h.Dir),
			"create it with `hermes profile create "+h.Profile+"`, or check the name with `hermes profile list`")
	}
	a.Profile = h.Profile
	return nil
}

// vaultDir is <root>/hermes-keys, refused when it is a symbolic link or
// another user's: it holds our lock, session and temp files.
func (a *App) vaultDir() (string, error) {
	root, err := a.hermesRoot()
	if err != nil {
		return "", err
	}
	return vaultDirOf(root)
}

// vaultDirOf is vaultDir for a root already resolved (and checked).
func vaultDirOf(root string) (string, error) {
	dir := filepath.Join(root, broker.DirName)
	if err := safefs.CheckDir(dir); err != nil {
		return "", xerr.WithHint(fmt.Errorf("refusing the vault directory: %w", err),
			"hermes-keys keeps its vault, locks and session files only in a real directory of your own; move the link aside")
	}
	return dir, nil
}

func (a *App) backendConfig(dir string) backends.Config {
	return backends.Config{Env: a.Env, IO: a.IO, Dir: dir, Timeout: a.Timeout, ScryptWorkFactor: a.ScryptWorkFactor}
}

// openVault opens the existing vault with the backend it records, unless
// --backend names another.
func (a *App) openVault() (*broker.Vault, error) {
	v, err := a.openVaultUncached()
	if err != nil {
		return nil, err
	}
	a.useCachedIdentity(v) // kernel keyring cache of `hermes-keys unlock`
	return v, nil
}

// chooseBackend picks the backend for a new vault. auto never falls back to
// the file backend silently: it asks on a terminal, and fails otherwise.
func (a *App) chooseBackend(ctx context.Context, dir string, yes bool) (*backends.Backend, error) {
	cfg := a.backendConfig(dir)
	if a.Backend != "" && a.Backend != "auto" {
		b, err := backends.Open(a.Backend, cfg)
		if err != nil {
			return nil, usageError{err}
		}
		if err := b.Probe(ctx); err != nil {
			if xerr.Hint(err) != "" {
				return nil, fmt.Errorf("backend %s is not usable: %w", b.Name, err)
			}
			return nil, xerr.WithHint(fmt.Errorf("backend %s is not usable: %w", b.Name, err),
				"`hermes-keys backends` shows what is usable here; on a server without a desktop session use --backend file")
		}
		return b, nil
	}
	b, err := backends.Auto(ctx, cfg)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, backends.ErrNoKeychain) || !a.IO.InTTY || !a.IO.ErrTTY {
		return nil, err
	}
	fmt.Fprintf(a.IO.ErrOut, "%v\nkeep the vault key in a passphrase-protected file instead (%s)? [y/N] ", err, filepath.Join(dir, backends.IdentityFile))
	if !confirm(a.IO) {
		return nil, xerr.WithHint(errors.New("no backend chosen"), "pass --backend file to use a passphrase-protected file")
	}
	fb, ferr := backends.Open("file", cfg)
	if ferr != nil {
		return nil, ferr
	}
	return fb, nil
}

func confirm(ios *iox.Streams) bool {
	var line string
	fmt.Fscanln(ios.In, &line)
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}
