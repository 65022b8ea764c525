package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/spf13/cobra"
)

type doctorOptions struct {
	app  *App
	JSON bool
}

func newDoctorCmd(app *App) *cobra.Command {
	opts := &doctorOptions{app: app}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine's setup, with a remedy for each problem",
		Long: `doctor checks, each within the --timeout deadline and without prompting or
starting anything:

  dbus             the D-Bus session bus the desktop keychains need
  backend          the backend in use (--backend, the vault's, else auto)
  vault            none, unlocked, or locked (its key out of reach)
  passphrase       passphrase files and systemd credentials: readable by
                   group or other is a failure
  daemon           whether a broker daemon answers on its socket
  linger           on Linux under systemd, whether the user's services
                   run without a login (loginctl enable-linger)
  plaintext        secrets still in plaintext in the Hermes home and copies
  secrets-command  whether Hermes gets sealed .env keys back (secrets.command)
  profiles         records of profiles Hermes deleted (orphaned) or renamed,
                   and vault directories a profile clone copied

Each prints ok, warn or fail with one line of finding and a hint where
there is a remedy; no secret is ever printed. The exit code is 1 when any
check fails, 0 otherwise (warnings included). --json prints an array of
{"check","status","detail","hint"} objects in the order above.`,
		Example: "  hermes-keys doctor\n  hermes-keys doctor --json | jq '.[] | select(.status != \"ok\")'",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return doctorRun(cmd, opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Check statuses.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

// doctorCheck is one finding. Detail and Hint never hold a secret value:
// they name places (paths, item names, variables), never contents.
type doctorCheck struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"`
}

// Where doctor looks for systemd and linger. Tests point them elsewhere.
var (
	systemdRunDir = "/run/systemd/system" // exists when systemd is the init (sd_booted)
	lingerDir     = "/var/lib/systemd/linger"
)

// checkGrace is added to --timeout for a whole check, so that the deadline
// of the keychain call inside it reports first, with its own words.
const checkGrace = time.Second

// doctorEnv is what the checks share, computed once, cheaply.
type doctorEnv struct {
	a       *App
	root    string
	dir     string // vault directory
	meta    broker.Meta
	metaErr error  // broker.ErrNoVault when there is none
	backend string // backend in use: --backend, the vault's, else "auto"
}

// busFacts is what the dbus check learnt.
type busFacts struct {
	used    bool // this platform's keychains talk D-Bus
	answers bool
}

// vaultFacts is what the vault check learnt, for the secrets-command check.
type vaultFacts struct {
	open       bool // the contents could be read
	envRecords int
	contents   *broker.Contents // when open: record names for the profiles check
	vaultID    string
}

func doctorRun(cmd *cobra.Command, opts *doctorOptions) error {
	a := opts.app
	root, err := a.hermesRoot()
	if err != nil {
		return err
	}
	e := &doctorEnv{a: a, root: root, dir: filepath.Join(root, broker.DirName)}
	e.meta, e.metaErr = broker.LoadMeta(e.dir)
	e.backend = "auto"
	switch {
	case a.Backend != "" && a.Backend != "auto":
		e.backend = a.Backend
	case e.metaErr == nil && e.meta.Backend != "":
		e.backend = e.meta.Backend
	}
	ctx := cmd.Context()
	limit := a.Timeout
	if limit <= 0 {
		limit = backends.DefaultTimeout
	}
	limit += checkGrace

	// Phase 1, concurrently, each check on its own deadline.
	var (
		wg                               sync.WaitGroup
		bus, bk, vault, pass, dmn, plain doctorCheck
		bf                               busFacts
		facts                            vaultFacts
	)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() { bus, bf = withDeadline(ctx, limit, "dbus", e.checkBus) })
	run(func() { bk, _ = withDeadline(ctx, limit, "backend", e.checkBackend) })
	run(func() { vault, facts = withDeadline(ctx, limit, "vault", e.checkVault) })
	run(func() { pass, _ = withDeadline(ctx, limit, "passphrase", e.checkPassphrase) })
	run(func() { dmn, _ = withDeadline(ctx, limit, "daemon", e.checkDaemon) })
	run(func() { plain, _ = withDeadline(ctx, limit, "plaintext", e.checkPlaintext) })
	wg.Wait()

	// Phase 2: checks that build on phase 1. A machine without a session
	// bus, or one whose vault uses the file backend, or a systemd unit, is
	// run as a server: its user services must outlive logins.
	if bus.Detail == checkTimedOut(limit) {
		bf = busFacts{used: true}
	}
	serverLike := e.backend == "file" || (bf.used && !bf.answers) || a.Env.Get("INVOCATION_ID") != ""
	linger, _ := withDeadline(ctx, limit, "linger", func(ctx context.Context) (doctorCheck, struct{}) {
		return e.checkLinger(ctx, serverLike), struct{}{}
	})
	secrets := e.checkSecretsCommand(facts)
	profiles := e.checkProfiles(facts)
	// With the file backend and no daemon, every `hermes-keys get`/`env`
	// Hermes starts pays the scrypt of identity.age, and Hermes gives its
	// secrets.command 3 s: under load that fails. The daemon pays it once.
	if e.backend == "file" && dmn.Status != checkOK {
		dmn.Detail += "; the vault uses the file backend, so each `hermes-keys get` or `env` that Hermes starts (its secrets.command gets 3 s) pays the scrypt of identity.age itself (about 1.4 s on an idle 2-core machine, more under load)"
		dmn.Hint = "start the broker daemon and unlock it once: `hermes-keys serve` (or systemctl --user enable --now hermes-keys.socket), then `hermes-keys unlock`"
	}

	checks := []doctorCheck{bus, bk, vault, pass, dmn, linger, plain, secrets, profiles}
	failed := 0
	for _, c := range checks {
		if c.Status == checkFail {
			failed++
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(a.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		printChecks(a.IO.Out, checks)
	}
	if failed > 0 {
		return xerr.WithCode(fmt.Errorf("%d of %d checks failed", failed, len(checks)), xerr.ExitFailed)
	}
	return nil
}

func printChecks(w io.Writer, checks []doctorCheck) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-5s %-16s %s\n", c.Status, c.Check, c.Detail)
		if c.Hint != "" {
			fmt.Fprintf(w, "      %-16s hint: %s\n", "", c.Hint)
		}
	}
}

func checkTimedOut(limit time.Duration) string {
	return fmt.Sprintf("did not finish within %s", limit)
}

// withDeadline runs a check with a deadline and gives up on it at the
// deadline: a check that hangs (a D-Bus peer that never answers) becomes a
// failure, never a hung doctor. The check's goroutine may outlive the call;
// its result is then dropped. T is what the check learnt for later checks.
func withDeadline[T any](ctx context.Context, limit time.Duration, name string, f func(context.Context) (doctorCheck, T)) (doctorCheck, T) {
	type pair struct {
		c doctorCheck
		v T
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ch := make(chan pair, 1)
	go func() { c, v := f(ctx); ch <- pair{c, v} }()
	select {
	case r := <-ch:
		return r.c, r.v
	case <-ctx.Done():
		var zero T
		return doctorCheck{Check: name, Status: checkFail, Detail: checkTimedOut(limit),
			Hint: "something does not answer; run `hermes-keys backends` and `hermes-keys status` to see which, or raise --timeout"}, zero
	}
}

// quietApp is a, with no terminal: doctor never prompts.
func (e *doctorEnv) quietApp() *App {
	q := *e.a
	ios := *e.a.IO
	ios.InTTY = false
	q.IO = &ios
	return &q
}

// needsBus reports whether backend name talks to the D-Bus session bus.
func needsBus(name string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	switch name {
	case "auto", "secret-service", "kwallet":
		return true
	}
	return false
}

// reasonOf drops the "backend unavailable: " prefix of a reason.
func reasonOf(err error) string {
	return strings.TrimPrefix(err.Error(), backends.ErrUnavailable.Error()+": ")
}

const busServerHint = "on a server (ssh, systemd, a container) keep the vault key in a passphrase-protected file: hermes-keys migrate --backend file (docs/servers.md); on a desktop, run from the graphical session or export its DBUS_SESSION_BUS_ADDRESS (hermes-keys never starts a bus)"

// checkBus: is there a live D-Bus session bus, where the keychains need one?
func (e *doctorEnv) checkBus(ctx context.Context) (doctorCheck, busFacts) {
	c := doctorCheck{Check: "dbus"}
	used, err := backends.SessionBus(ctx, e.a.backendConfig(e.dir))
	if !used {
		c.Status, c.Detail = checkOK, "not needed: the keychain of "+runtime.GOOS+" does not use D-Bus"
		return c, busFacts{}
	}
	if err == nil {
		c.Status, c.Detail = checkOK, "a D-Bus session bus answers"
		return c, busFacts{used: true, answers: true}
	}
	switch {
	case backends.IsNoBus(err):
		c.Detail = reasonOf(err)
	case errors.Is(err, backends.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		c.Detail = "the D-Bus session bus does not answer: " + err.Error()
	default:
		c.Detail = "the D-Bus session bus is broken: " + reasonOf(err)
	}
	if !needsBus(e.backend) {
		c.Status = checkOK
		c.Detail += "; not needed by the " + e.backend + " backend in use"
		return c, busFacts{used: true}
	}
	c.Status, c.Hint = checkFail, busServerHint
	if e.backend != "auto" {
		c.Hint = "this vault's key is in " + e.backend + ", which needs the desktop session's bus: run from that session or export its DBUS_SESSION_BUS_ADDRESS; a server's vault belongs in --backend file (docs/servers.md)"
	}
	return c, busFacts{used: true}
}

// checkBackend: is the backend in use (or the one auto would pick) usable?
func (e *doctorEnv) checkBackend(ctx context.Context) (doctorCheck, struct{}) {
	c := doctorCheck{Check: "backend"}
	cfg := e.a.backendConfig(e.dir)
	var err error
	if e.backend == "auto" {
		var b *backends.Backend
		if b, err = backends.Auto(ctx, cfg); err == nil {
			c.Status, c.Detail = checkOK, "auto picks "+b.Name
			return c, struct{}{}
		}
		c.Detail = err.Error()
	} else {
		var b *backends.Backend
		if b, err = backends.Open(e.backend, cfg); err == nil {
			if err = b.Probe(ctx); err == nil {
				c.Status, c.Detail = checkOK, e.backend+" is usable"
				if !b.Persistent {
					c.Detail += " (it forgets at reboot)"
				}
				return c, struct{}{}
			}
		}
		c.Detail = e.backend + ": " + reasonOf(err)
	}
	var usable []string
	for _, s := range backends.ProbeAll(ctx, cfg) {
		if s.Usable && s.Name != e.backend {
			usable = append(usable, s.Name)
		}
	}
	others := "none"
	if len(usable) > 0 {
		others = strings.Join(usable, ", ")
	}
	c.Status, c.Hint = checkFail, xerr.Hint(err)
	if c.Hint == "" {
		c.Hint = "`hermes-keys backends` says why each backend is or is not usable"
	}
	c.Hint += "; usable here: " + others
	if e.backend == "file" && errors.Is(err, backends.ErrLocked) {
		// No passphrase source in this shell: the vault check says what
		// that means for the vault.
		c.Status = checkWarn
	}
	return c, struct{}{}
}

// checkVault: none, present and openable, or locked.
func (e *doctorEnv) checkVault(ctx context.Context) (doctorCheck, vaultFacts) {
	c := doctorCheck{Check: "vault"}
	var facts vaultFacts
	switch {
	case errors.Is(e.metaErr, broker.ErrNoVault):
		c.Status, c.Detail = checkWarn, "none in "+e.dir
		c.Hint = "`hermes-keys migrate` seals Hermes's tokens into a vault (on a server: --backend file)"
		return c, facts
	case e.metaErr != nil:
		c.Status, c.Detail, c.Hint = checkFail, e.metaErr.Error(), xerr.Hint(e.metaErr)
		return c, facts
	}
	q := e.quietApp()
	v, err := q.openVaultUncached()
	if err != nil {
		c.Status, c.Detail, c.Hint = checkFail, err.Error(), xerr.Hint(err)
		return c, facts
	}
	what := fmt.Sprintf("vault %s (backend %s)", v.Meta.ID, v.Backend.Name)

	// Held unlocked elsewhere: the daemon's memory, the kernel keyring.
	var unlockedBy string
	if cl := e.a.daemonClient(); cl != nil {
		if st, err := cl.Status(ctx); err == nil && !st.Locked && st.VaultID == v.Meta.ID {
			unlockedBy = fmt.Sprintf("the broker daemon (pid %d)", st.PID)
		}
		cl.Close()
	}
	if id, err := daemon.CachedIdentity(v.Meta.ID); err == nil && v.SetIdentity(id) == nil {
		if unlockedBy == "" {
			unlockedBy = "the kernel keyring cache of `hermes-keys unlock`"
		}
	}

	// The backend itself, never prompting.
	var berr error
	source := ""
	if v.Backend.Name == "file" {
		source = backends.PassphraseSource(e.a.Env, e.a.IO)
	}
	switch {
	case v.Unlocked():
	case v.Backend.Name == "file" && source == "":
		berr = fmt.Errorf("%w: no passphrase source and no terminal to ask on", backends.ErrLocked)
	case v.Backend.Name == "file" && source == "terminal":
		// Asking would prompt: say what each command will do instead.
	default:
		_, berr = v.Identity(ctx)
	}

	switch {
	case berr == nil && source == "terminal" && !v.Unlocked() && unlockedBy == "":
		c.Status = checkWarn
		c.Detail = "locked: " + what + ": every command asks for the passphrase on the terminal"
		c.Hint = "`hermes-keys unlock` asks once (or start the daemon: `hermes-keys serve`); a server needs HERMES_KEYS_PASSPHRASE_FILE or a systemd credential " + backends.CredentialName
	case berr == nil && unlockedBy != "":
		c.Status, c.Detail = checkOK, "present: "+what+", unlocked by "+unlockedBy
	case berr == nil:
		c.Status, c.Detail = checkOK, "present: "+what+", its key opens with "+keySource(v.Backend.Name, source)
	case errors.Is(berr, backends.ErrLocked) && unlockedBy != "":
		c.Status = checkOK
		c.Detail = "present: " + what + ", unlocked by " + unlockedBy + " (this shell could not open it: no passphrase source)"
	case errors.Is(berr, backends.ErrLocked):
		c.Status = checkFail
		c.Detail = "locked: " + what + ": " + strings.TrimPrefix(reasonOf(berr), backends.ErrLocked.Error()+": ")
		c.Hint = "give it a passphrase source: HERMES_KEYS_PASSPHRASE_FILE (a 0600 file) or the systemd credential " + backends.CredentialName + "; or run `hermes-keys unlock` once in a terminal"
		if v.Backend.Name != "file" {
			c.Hint = "unlock " + v.Backend.Name + " (log in to the desktop session), then run `hermes-keys unlock`"
		}
	case errors.Is(berr, broker.ErrKeyMissing), errors.Is(berr, backends.ErrBadPassphrase), errors.Is(berr, broker.ErrWrongKey), errors.Is(berr, backends.ErrInsecureFile):
		c.Status, c.Detail, c.Hint = checkFail, "present: "+what+", but "+berr.Error(), xerr.Hint(berr)
		if unlockedBy != "" {
			c.Detail += " (for now " + unlockedBy + " holds the key)"
		}
	default:
		c.Status, c.Detail, c.Hint = checkFail, "present: "+what+", but "+berr.Error(), xerr.Hint(berr)
		if unlockedBy != "" {
			c.Status = checkWarn
			c.Detail += " (for now " + unlockedBy + " holds the key)"
		}
		if c.Hint == "" {
			c.Hint = "`hermes-keys backends` says what is usable here"
		}
	}
	if v.Unlocked() || berr == nil && source != "terminal" {
		if contents, err := v.Read(ctx); err == nil {
			// vault.json naming keys the vault is not sealed to: writes fail.
			if rerr := v.CheckRecipients(contents); rerr != nil {
				c.Status, c.Detail, c.Hint = checkFail, "present: "+what+", but "+rerr.Error(), xerr.Hint(rerr)
			}
			facts.open = true
			facts.contents, facts.vaultID = contents, v.Meta.ID
			for _, k := range contents.Keys() {
				if contents.Records[k].Kind == "env" {
					facts.envRecords++
				}
			}
		}
	}
	return c, facts
}

// keySource says where the vault key came from, without the key.
func keySource(backend, source string) string {
	if backend == "file" && source != "" {
		return "the passphrase from " + source
	}
	return "the " + backend + " item " + backends.Service + "/vault:<id>"
}

// checkPassphrase: passphrase files and systemd credentials must be
// readable by their owner only (backends.CheckPrivate's rule).
func (e *doctorEnv) checkPassphrase(ctx context.Context) (doctorCheck, struct{}) {
	c := doctorCheck{Check: "passphrase", Status: checkOK}
	var found, problems, hints []string
	status := checkOK
	worse := func(s string) {
		if s == checkFail || status == checkOK {
			status = s
		}
	}
	check := func(what, path string) {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			worse(checkFail)
			problems = append(problems, fmt.Sprintf("%s: %s cannot be read: %v", what, path, errors.Unwrap(err)))
			hints = append(hints, "point "+what+" at an existing 0600 file")
		case backends.CheckPrivate(path) != nil:
			err := backends.CheckPrivate(path)
			worse(checkFail)
			problems = append(problems, what+": "+err.Error())
			if h := xerr.Hint(err); h != "" {
				hints = append(hints, h)
			}
		case fi.Size() == 0:
			worse(checkFail)
			problems = append(problems, fmt.Sprintf("%s: %s is empty", what, path))
			hints = append(hints, "write the passphrase into "+path)
		default:
			found = append(found, fmt.Sprintf("%s (%s, mode %04o)", what, path, fi.Mode().Perm()))
		}
	}
	if p := e.a.Env.Get("HERMES_KEYS_PASSPHRASE_FILE"); p != "" {
		check("HERMES_KEYS_PASSPHRASE_FILE", p)
	}
	if d := e.a.Env.Get("CREDENTIALS_DIRECTORY"); d != "" {
		if p := filepath.Join(d, backends.CredentialName); doctorPathExists(p) {
			check("systemd credential "+backends.CredentialName, p)
		}
	}
	if e.a.Env.Get("HERMES_KEYS_PASSPHRASE") != "" {
		worse(checkWarn)
		problems = append(problems, "HERMES_KEYS_PASSPHRASE is set: the passphrase sits in the environment, inherited by every child process")
		hints = append(hints, "prefer HERMES_KEYS_PASSPHRASE_FILE (a 0600 file) or a systemd credential")
	}
	c.Status = status
	switch {
	case len(problems) > 0:
		c.Detail = strings.Join(problems, "; ")
		c.Hint = strings.Join(hints, "; ")
	case len(found) > 0:
		c.Detail = "private: " + strings.Join(found, ", ")
	default:
		c.Detail = "no passphrase file or systemd credential set (only the file backend needs one)"
	}
	return c, struct{}{}
}

func doctorPathExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// daemonHint says how to start the broker daemon on this platform.
func daemonHint() string {
	if runtime.GOOS == "darwin" {
		return "load the launchd agent (contrib/launchd) or run `hermes-keys serve`; without it every command reads the keychain itself"
	}
	return "systemctl --user enable --now hermes-keys.socket (contrib/systemd, docs/servers.md) or `hermes-keys serve`; without it every command opens the vault itself (about a second of scrypt with the file backend)"
}

// checkDaemon: does a broker daemon answer on this user's socket?
func (e *doctorEnv) checkDaemon(ctx context.Context) (doctorCheck, struct{}) {
	c := doctorCheck{Check: "daemon"}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		c.Status, c.Detail = checkOK, "not supported on "+runtime.GOOS
		return c, struct{}{}
	}
	sock := daemon.SocketPath(e.a.Env, e.root)
	fi, err := os.Lstat(sock)
	switch {
	case err != nil:
		c.Status, c.Detail, c.Hint = checkWarn, "not running: no socket at "+sock, daemonHint()
		return c, struct{}{}
	case fi.Mode()&os.ModeSocket == 0:
		c.Status, c.Detail, c.Hint = checkWarn, sock+" is not a socket", "move it away; the daemon's socket goes there"
		return c, struct{}{}
	}
	cl, err := daemon.DialTimeout(sock, min(daemonDialTimeout, e.a.Timeout))
	if errors.Is(err, daemon.ErrUntrusted) { // another user's socket: nothing was sent
		c.Status, c.Detail, c.Hint = checkFail, err.Error(), xerr.Hint(err)
		return c, struct{}{}
	}
	if err != nil {
		c.Status, c.Detail, c.Hint = checkWarn, fmt.Sprintf("not running: nothing answers on %s (%v)", sock, errors.Unwrap(err)), daemonHint()
		return c, struct{}{}
	}
	defer cl.Close()
	cl.Timeout = min(daemonCallTimeout, e.a.Timeout)
	st, err := cl.Status(ctx)
	if err != nil {
		c.Status, c.Detail = checkWarn, fmt.Sprintf("a daemon on %s does not answer status: %v", sock, err)
		c.Hint = "restart it: systemctl --user restart hermes-keys.service, or stop and rerun `hermes-keys serve`"
		return c, struct{}{}
	}
	if e.metaErr == nil && st.VaultID != e.meta.ID {
		c.Status = checkWarn
		c.Detail = fmt.Sprintf("the daemon on %s (pid %d) serves another vault (%s in %s)", sock, st.PID, st.VaultID, st.Dir)
		c.Hint = "give each Hermes home its own socket with HERMES_KEYS_SOCKET, or check --hermes-home"
		return c, struct{}{}
	}
	state := "locked"
	if !st.Locked {
		state = "unlocked"
	}
	if st.AutoUnlock {
		state += ", unlocks itself from the backend"
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("running on %s (pid %d, %s)", sock, st.PID, state)
	return c, struct{}{}
}

// checkLinger: on Linux under systemd, do the user's services run without
// a login? Only a server needs them to.
func (e *doctorEnv) checkLinger(ctx context.Context, serverLike bool) doctorCheck {
	c := doctorCheck{Check: "linger"}
	if runtime.GOOS != "linux" {
		c.Status, c.Detail = checkOK, "not applicable on "+runtime.GOOS
		return c
	}
	if _, err := os.Stat(systemdRunDir); err != nil {
		c.Status, c.Detail = checkOK, "not applicable: systemd is not running here"
		return c
	}
	name := e.userName()
	enable := "sudo loginctl enable-linger " + name
	if name == "" {
		c.Status, c.Detail, c.Hint = checkWarn, "cannot tell: no user name ($USER unset)", "sudo loginctl enable-linger <user>"
		return c
	}
	on, why := e.lingerState(ctx, name)
	switch {
	case on == "yes":
		c.Status, c.Detail = checkOK, "enabled for "+name
	case on == "no" && serverLike:
		c.Status, c.Detail, c.Hint = checkWarn, "not enabled for "+name+": the user's services (the broker daemon, the gateway) stop at logout and do not start at boot", enable
	case on == "no":
		c.Status, c.Detail = checkOK, "not enabled for "+name+" (fine with a desktop session: user services run while you are logged in)"
	default:
		c.Status = checkWarn
		c.Detail = "cannot tell whether linger is enabled for " + name + ": " + why
		c.Hint = "check with `loginctl show-user " + name + " -p Linger`; a server needs `" + enable + "`"
	}
	return c
}

func (e *doctorEnv) userName() string {
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := e.a.Env.Get(k); v != "" {
			return v
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// lingerState asks loginctl (within the deadline), else looks for the
// linger flag file; on is "yes", "no", or "" with why it cannot tell.
func (e *doctorEnv) lingerState(ctx context.Context, name string) (on, why string) {
	path := doctorLookPath(e.a.Env.Get("PATH"), "loginctl")
	why = "loginctl not found"
	if path != "" {
		ctx, cancel := context.WithTimeout(ctx, e.a.Timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, "show-user", name, "-p", "Linger")
		cmd.Env = []string{"PATH=" + e.a.Env.Get("PATH"), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
		cmd.WaitDelay = 100 * time.Millisecond
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Linger="); ok && (v == "yes" || v == "no") {
				return v, ""
			}
		}
		if strings.Contains(errOut.String(), "not logged in or lingering") {
			return "no", ""
		}
		why = "loginctl failed"
		if err != nil {
			why += ": " + err.Error()
		}
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			why += ": " + doctorFirstLine(msg)
		}
	}
	if _, err := os.Stat(filepath.Join(lingerDir, name)); err == nil {
		return "yes", ""
	}
	return "", why
}

func doctorFirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// doctorLookPath looks name up in the injected PATH.
func doctorLookPath(pathList, name string) string {
	for _, d := range filepath.SplitList(pathList) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// checkPlaintext: secrets still in plaintext in the Hermes homes (live
// files, .env, and the copies status lists). Counts and paths, never values.
func (e *doctorEnv) checkPlaintext(ctx context.Context) (doctorCheck, struct{}) {
	c := doctorCheck{Check: "plaintext"}
	var found []plaintextReport // .env's secret keys included
	for _, p := range plaintextFound(e.a) {
		if p.Kind != string(hermes.CopyVault) { // the profiles check's
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		c.Status, c.Detail = checkOK, "no plaintext secrets found under "+e.root
		return c, struct{}{}
	}
	fields, files := 0, map[string]bool{}
	for _, p := range found {
		fields += p.Secrets
		files[p.Path] = true
	}
	c.Status = checkWarn
	c.Detail = fmt.Sprintf("%d secret field(s) in plaintext in %d file(s), e.g. %s", fields, len(files), found[0].Path)
	c.Hint = "`hermes-keys status` lists them; `hermes-keys migrate --all-profiles --env` seals them and `--scrub-copies` deletes the copies (while `hermes-keys run` runs, auth.json holds plaintext on purpose)"
	// Backup archives are the user's files: named, never deleted by us.
	archives, world := map[string]bool{}, 0
	for _, p := range found {
		if p.Kind == string(hermes.CopyArchive) && !archives[p.Path] {
			archives[p.Path] = true
			if p.WorldReadable {
				world++
			}
		}
	}
	if len(archives) > 0 {
		c.Detail += fmt.Sprintf("; %d backup archive(s) hold secrets (%d readable by every user)", len(archives), world)
		c.Hint += "; backup archives (`hermes backup`, `hermes update --backup`) are not touched by hermes-keys: delete them or move them off this machine, and back up without secrets as docs/hermes.md says"
	}
	return c, struct{}{}
}

// checkSecretsCommand: sealed .env keys reach Hermes only through `hermes-keys
// run` or its secrets.command source.
func (e *doctorEnv) checkSecretsCommand(facts vaultFacts) doctorCheck {
	c := doctorCheck{Check: "secrets-command", Status: checkOK}
	in, derr := detectHermes(context.Background(), e.a)
	if cfg := e.configRunningEnv(); cfg != "" {
		c.Detail = cfg + " runs `hermes-keys env` as Hermes's secrets.command"
		if derr == nil && in.Source != "" && !commandSourceWorks(in, derr) {
			// The block is there, but this Hermes never runs it.
			c.Status = checkWarn
			c.Detail += ", but " + hermesName(in) + " has no command secret source and ignores it"
			c.Hint = envAdvice(in, derr)
		}
		return c
	}
	switch {
	case errors.Is(e.metaErr, broker.ErrNoVault):
		c.Detail = "no vault: no .env keys sealed"
	case !facts.open:
		c.Detail = "not checked: the vault could not be opened here to count sealed .env keys"
	case facts.envRecords == 0:
		c.Detail = "no .env keys sealed: Hermes needs no secrets.command"
	default:
		c.Status = checkWarn
		c.Detail = fmt.Sprintf("%d .env key(s) sealed, and no config.yaml runs `hermes-keys env`: Hermes sees them only when started through `hermes-keys run`", facts.envRecords)
		c.Hint = envAdvice(in, derr)
	}
	return c
}

// configRunningEnv returns the first config.yaml of the Hermes homes that
// names `hermes-keys … env` outside a comment, or "".
func (e *doctorEnv) configRunningEnv() string {
	homes, err := e.a.homes(true)
	if err != nil {
		return ""
	}
	for _, h := range homes {
		p := filepath.Join(h.Dir, "config.yaml")
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if usesEnvCommand(data) {
			return p
		}
	}
	return ""
}

func usesEnvCommand(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
		}
		_, rest, ok := strings.Cut(line, "hermes-keys")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(strings.Trim(rest, `"'`)) {
			if strings.Trim(f, `"'`) == "env" {
				return true
			}
		}
	}
	return false
}
