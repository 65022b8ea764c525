package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/internal/watch"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/hermes-keys/hermes-keys/migrate"
	"github.com/spf13/cobra"
)

type runOptions struct {
	app         *App
	AllProfiles bool
	Verbose     bool
	Argv        []string
	// Recheck is how often the store is re-checked without a watch event.
	Recheck time.Duration
}

func newRunCmd(app *App) *cobra.Command {
	opts := &runOptions{app: app}
	cmd := &cobra.Command{
		Use:   "run [-p NAME] -- CMD [ARG...]",
		Short: "Run Hermes (or anything) on materialised tokens; seal rotations; scrub at the end",
		Long: `run puts the sealed blocks back into the Hermes store (under Hermes's locks)
and the sealed .env keys back into the home's own .env (a profile gets only its
own, as Hermes loads only <profile>/.env), and runs CMD with the terminal
passed through. While CMD runs, every token Hermes rotates and every .env key
Hermes sets or removes (config set, auth remove, hermes model) reaches the
vault within moments. When the last run of this Hermes root exits, the store
and .env are sealed once more and scrubbed back to their skeletons.

The profile is the one given by -p, else Hermes's own -p/--profile among
CMD's arguments, else HERMES_HOME (and Hermes's sticky active profile).
run exits with CMD's exit status, or 128+N when CMD was killed by signal N.`,
		Example: `  hermes-keys run -- hermes chat
  hermes-keys run -- hermes -p work gateway
  alias hermes='hermes-keys run -- hermes'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return xerr.WithHint(errors.New("run needs a command to run"), "hermes-keys run -- hermes chat")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Argv = args
			return runRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SetInterspersed(false) // everything after CMD is CMD's
	cmd.Flags().BoolVar(&opts.AllProfiles, "all-profiles", false, "materialise every profile (a multiplexed gateway)")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "say on stderr what is materialised and sealed (names only)")
	cmd.Flags().DurationVar(&opts.Recheck, "recheck", 2*time.Second, "re-check the store this often, in case a watch event was missed")
	return cmd
}

// wrappedProfile finds the profile a wrapped hermes command will use from
// its own arguments, scanning them exactly as Hermes 0.19.0's
// _apply_profile_override does before anything else: the first -p NAME,
// --profile NAME or --profile=NAME, skipping the values of Hermes's value
// flags (hermes -m -p …), stopping at "--" and at mcp add's --args. A
// separate NAME that does not match Hermes's strict profile id is ignored,
// as Hermes ignores it (then HERMES_HOME or the sticky profile decide);
// Hermes does not read an attached -pNAME there either.
func wrappedProfile(argv []string) (string, bool) {
	if len(argv) == 0 || !strings.HasPrefix(strings.TrimSuffix(filepath.Base(argv[0]), ".exe"), "hermes") {
		return "", false
	}
	args := argv[1:]
	valueFlags := map[string]bool{"-z": true, "--oneshot": true, "-m": true, "--model": true, "--provider": true,
		"-t": true, "--toolsets": true, "-r": true, "--resume": true, "-s": true, "--skills": true, "--usage-file": true}
	optionalValueFlags := map[string]bool{"-c": true, "--continue": true}
	inMCPAddArgs := func(i int) bool {
		m := slices.Index(args[:i], "mcp")
		return m >= 0 && slices.Contains(args[m+1:i], "add")
	}
	for i := 0; i < len(args); {
		a := args[i]
		switch {
		case a == "--", a == "--args" && inMCPAddArgs(i):
			return "", false
		case (a == "-p" || a == "--profile") && i+1 < len(args):
			name := args[i+1]
			if !hermes.IsProfileID(name) {
				return "", false
			}
			return name, true
		case strings.HasPrefix(a, "--profile="):
			name := strings.TrimPrefix(a, "--profile=")
			return name, name != ""
		case valueFlags[a] && i+1 < len(args):
			i += 2
		case optionalValueFlags[a] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			i += 2
		default:
			i++
		}
	}
	return "", false
}

// runSession is one run's view of the store.
type runSession struct {
	sess  *session.Session
	reg   *session.Registry
	mine  *migrate.Root // the homes this run materialises
	all   *migrate.Root // every home of the root: the last one out scrubs them all
	live  *migrate.Live
	debug func(format string, args ...any)
}

func runRun(ctx context.Context, opts *runOptions) error {
	a := opts.app
	setHome := false
	if a.Profile != "" {
		setHome = true
	} else if p, ok := wrappedProfile(opts.Argv); ok {
		a.Profile = p
	}
	home, err := a.hermesHome()
	if err != nil {
		return err
	}
	if home.Profile != "" && !home.Exists() {
		return noProfile(home) // Hermes refuses it too; never create it
	}
	homes := []hermes.Home{home}
	if home.Profile != "" {
		homes = append(homes, home.RootHome())
	}
	allHomes, err := home.RootHome().Profiles()
	if err != nil {
		return err
	}
	if opts.AllProfiles {
		homes = allHomes
	}
	hardenRun(a.IO.ErrOut) // before any key or secret is in memory
	// Through the broker daemon when it serves this vault (run then never
	// holds the key), else opened here; fails before CMD starts (exit 4).
	v, vdir, closeStore, err := a.runStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	s := &runSession{
		reg:   &session.Registry{Dir: filepath.Join(vdir, "sessions"), LockTimeout: a.LockTimeout},
		mine:  migrate.NewRoot(homes, v, a.Now),
		all:   migrate.NewRoot(allHomes, v, a.Now),
		debug: func(string, ...any) {},
	}
	if !opts.AllProfiles {
		// Hermes loads only this home's .env, never the root's for a profile.
		s.mine.EnvHome = func(h hermes.Home) bool { return h.Profile == home.Profile }
	}
	if opts.Verbose {
		s.debug = func(f string, args ...any) { fmt.Fprintf(a.IO.ErrOut, "hermes-keys: "+f+"\n", args...) }
	}
	s.live = &migrate.Live{
		Root: s.mine,
		// The watch starts 100 ms in, then looks once: a command that is
		// over by then (hermes --version) costs no inotify set-up and
		// tear-down, and the final seal at exit covers it anyway.
		Watch: watch.Options{Recheck: opts.Recheck, Delay: 100 * time.Millisecond},
		OnSync: func(res *migrate.SyncResult, err error) {
			if err != nil {
				fmt.Fprintf(a.IO.ErrOut, "hermes-keys: sealing a change failed (will retry): %v\n", err)
				return
			}
			if s.sess != nil {
				s.sess.Record(res.Present) // the baseline a recovery would use
			}
			for _, k := range res.Changed {
				s.debug("sealed %s into the vault", k)
			}
			for _, k := range res.Removed {
				s.debug("removed %s from the vault: Hermes removed it", k)
			}
		},
	}

	childEnv := childEnvWithoutSecrets(buildChildEnv(os.Environ(), a, home, setHome))
	if _, err := lookPath(opts.Argv[0]); err != nil {
		return err // before anything is materialised
	}
	lctx, cancel := context.WithTimeout(ctx, a.LockTimeout)
	sess, err := s.reg.JoinWith(lctx, func(alone bool, seen map[string]bool) error { return s.materialise(lctx, alone, seen) })
	cancel()
	if err != nil {
		return err
	}
	s.sess = sess
	sess.Record(s.live.Seen())

	wctx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.live.Run(wctx)
	}()

	code, runErr := runChild(ctx, a, opts.Argv, childEnv, sess.File())

	// Nothing may stop the clean-up half-way: a second ^C or a
	// supervisor's SIGTERM after CMD exited is swallowed until run is done.
	held := make(chan os.Signal, 4)
	signal.Notify(held, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(held)
	stopWatch()
	<-watched
	// Leave with a fresh deadline: CMD may have run for days, and ctx may
	// be cancelled by the very signal that ended it.
	lctx, cancel = context.WithTimeout(context.Background(), a.LockTimeout+10*time.Second)
	defer cancel()
	leaveErr := s.reg.Leave(lctx, sess, func(alone bool) error { return s.finish(lctx, alone) })
	if runErr != nil {
		return errors.Join(runErr, leaveErr)
	}
	if leaveErr != nil {
		fmt.Fprintf(a.IO.ErrOut, "hermes-keys: %v\n", leaveErr)
		if h := xerr.Hint(leaveErr); h != "" {
			fmt.Fprintf(a.IO.ErrOut, "hint: %s\n", h)
		}
		fmt.Fprintln(a.IO.ErrOut, "hint: the tokens may still be in plaintext; `hermes-keys seal` seals and scrubs them")
		if code == 0 {
			code = xerr.ExitFailed
		}
	}
	return exitWith(code)
}

// sessionsDir is the run registry of v's root. Every command derives it
// from the vault's directory, never from a home path that may be spelled
// differently (a symbolic link), or a run and a recovery could each look
// at a registry of their own.
func sessionsDir(v *broker.Vault) string { return filepath.Join(v.Dir, "sessions") }

// materialise runs under the session registry lock when a run joins. The
// first run in also seals whatever a crashed run left in plaintext, with
// the baseline that run recorded (so a logout Hermes made after its last
// sync reaches the vault too).
func (s *runSession) materialise(ctx context.Context, alone bool, seen map[string]bool) error {
	if alone {
		if _, err := s.all.Sync(ctx, migrate.SyncOptions{Seen: seen}); err != nil {
			return fmt.Errorf("seal what the store holds before materialising: %w", err)
		}
	}
	present, restored, err := s.mine.Materialise(ctx)
	if err != nil {
		return err
	}
	s.live.SetBaseline(present)
	for _, k := range restored {
		s.debug("materialised %s", k)
	}
	return nil
}

// finish runs under the registry lock when a run leaves: seal the last
// changes, and scrub when no other run remains.
func (s *runSession) finish(ctx context.Context, alone bool) error {
	if _, err := s.live.Sync(ctx, true); err != nil {
		return fmt.Errorf("seal the last changes: %w", err)
	}
	if !alone {
		s.debug("another run is live; the store stays materialised")
		return nil
	}
	// A scrubbed store lacks every block: should run die from here on, the
	// recovery must not read that as Hermes having removed them all.
	if err := s.sess.Record(nil); err != nil {
		return fmt.Errorf("clear the session's baseline: %w", err)
	}
	// Hermes may have created, renamed or deleted profiles while CMD ran
	// (profile create --clone-all, rename, delete): scrub the homes that
	// exist now, never one that is gone.
	if len(s.all.Homes) > 0 {
		if homes, err := s.all.Homes[0].RootHome().Profiles(); err == nil {
			all := migrate.NewRoot(homes, s.all.Vault, s.all.Now)
			all.Env = s.all.Env
			s.all = all
		}
	}
	res, err := s.all.Sync(ctx, migrate.SyncOptions{Scrub: true})
	if err != nil {
		return fmt.Errorf("scrub the store: %w", err)
	}
	s.debug("scrubbed %d block(s) back to the vault", len(res.Sealed))
	return nil
}

// buildChildEnv is the process environment with, for run -p, the
// profile's HERMES_HOME. The sealed .env keys are not in it: they are
// materialised into the home's .env, where Hermes loads them itself (and
// its own config set and auth remove reach them).
func buildChildEnv(base []string, a *App, home hermes.Home, setHome bool) []string {
	over := map[string]string{}
	switch hh := a.Env.Get("HERMES_HOME"); {
	case setHome || a.HermesHome != "":
		over["HERMES_HOME"] = home.Dir
	case hh != "" && hh != os.Getenv("HERMES_HOME"):
		over["HERMES_HOME"] = hh // an injected environment (the demo, tests)
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+over[k])
	}
	return out
}

// exitCoder carries CMD's exit status out of run without an error message.
type exitCoder int

func (e exitCoder) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func exitWith(code int) error {
	if code == 0 {
		return nil
	}
	return exitCoder(code)
}

// lookPath resolves CMD like a shell: 127 when it is not found, 126 when
// it cannot be run. CMD's PATH is run's own (the sealed env records never
// name PATH), and exec.LookPath refuses a match in the current directory
// that an empty PATH entry would give.
func lookPath(name string) (string, error) {
	if strings.ContainsRune(name, os.PathSeparator) || strings.ContainsRune(name, '/') {
		// Checked here too, so that nothing is materialised for a path
		// that cannot be run.
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return "", xerr.WithCode(fmt.Errorf("%s: no such file or directory", name), 127)
		case err != nil:
			return "", xerr.WithCode(fmt.Errorf("%s: cannot run: %w", name, err), 126)
		case fi.IsDir() || !isExecutable(fi):
			return "", xerr.WithCode(fmt.Errorf("%s: cannot run: not an executable file", name), 126)
		}
		return name, nil
	}
	lp, err := exec.LookPath(name)
	if err != nil {
		return "", xerr.WithCode(fmt.Errorf("%s: command not found", name), 127)
	}
	return lp, nil
}
