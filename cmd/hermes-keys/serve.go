package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	app          *App
	Socket       string
	Idle         time.Duration
	ReadTimeout  time.Duration
	NoAutoUnlock bool
}

func newServeCmd(app *App) *cobra.Command {
	opts := &serveOptions{app: app}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker daemon on a per-user Unix socket",
		Long: `serve runs the broker daemon: it holds the vault key in memory only and
answers get, put, env and status requests (a JSON-lines protocol, see
docs/servers.md) on a Unix socket that only this user may use; the uid of
every client is checked, and clients check that the daemon runs as their
user before they send anything. ` + "`hermes-keys get`" + `, ` + "`hermes-keys env`" + ` and
` + "`hermes-keys run`" + ` use it on their own when it answers.

The socket is --socket, else $HERMES_KEYS_SOCKET, else
$XDG_RUNTIME_DIR/hermes-keys/broker.sock, else <hermes root>/hermes-keys/broker.sock.
Under systemd socket activation (LISTEN_FDS) it serves the inherited socket.

The daemon starts locked. Unless --no-auto-unlock is given, the first request
that needs the key reads it from the vault's backend, never prompting (a
keychain, or the file backend with HERMES_KEYS_PASSPHRASE_FILE or a systemd
credential); ` + "`hermes-keys unlock`" + ` makes it read the key (or sends it the
passphrase of the file backend). No client ever gets or gives the key itself:
` + "`hermes-keys run`" + ` reads and seals records through the daemon. After --idle
without use the daemon forgets the key; ` + "`hermes-keys lock`" + ` makes it forget
at once and stay locked.`,
		Example: "  hermes-keys serve\n  hermes-keys serve --idle 15m --no-auto-unlock",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return serveRun(cmd, opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Socket, "socket", "", "socket `path` (default $HERMES_KEYS_SOCKET, else under $XDG_RUNTIME_DIR)")
	f.DurationVar(&opts.Idle, "idle", daemon.DefaultIdleTimeout, "forget the vault key after this long without use (0: never)")
	f.DurationVar(&opts.ReadTimeout, "read-timeout", daemon.DefaultReadTimeout, "cut a client that takes longer than this to send a request")
	f.BoolVar(&opts.NoAutoUnlock, "no-auto-unlock", false, "never read the key from the backend; wait for `hermes-keys unlock`")
	return cmd
}

func serveRun(cmd *cobra.Command, opts *serveOptions) error {
	a := opts.app
	if opts.Idle < 0 || opts.ReadTimeout <= 0 {
		return usageError{errors.New("--idle must not be negative and --read-timeout must be positive")}
	}
	root, err := a.hermesRoot()
	if err != nil {
		return err
	}
	dir, err := vaultDirOf(root)
	if err != nil {
		return err
	}
	sock := opts.Socket
	if sock == "" {
		sock = daemon.SocketPath(a.Env, root)
	}
	ln, err := daemon.ListenerFromEnv(a.Env, os.Getpid())
	if err != nil {
		return err
	}
	if ln != nil {
		// Meant for this process only: children must not take them.
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
		sock = ln.Addr().String()
	}
	idle := opts.Idle
	if idle == 0 {
		idle = -1 // never
	}
	dopts := daemon.Options{
		Dir: dir, Socket: sock, Listener: ln, Log: a.IO.ErrOut, Version: version,
		IdleTimeout: idle, ReadTimeout: opts.ReadTimeout, Now: a.Now,
	}
	// The Unlocker also serves `hermes-keys unlock`, which makes the daemon
	// read its backend itself; --no-auto-unlock only stops it reading on
	// its own.
	dopts.Unlocker = a.daemonUnlocker()
	dopts.NoAutoUnlock = opts.NoAutoUnlock
	srv, err := daemon.Listen(dopts)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return err
	}
	if err := daemon.HardenProcess(); err != nil {
		fmt.Fprintf(a.IO.ErrOut, "hermes-keys serve: warning: could not make the daemon's memory unreadable to other processes: %v\n", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return srv.Serve(ctx)
}

// daemonUnlocker reads the vault key the way the command line does, except
// that it never prompts: a keychain, the kernel keyring cache, or the file
// backend with a non-interactive passphrase source.
func (a *App) daemonUnlocker() func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		quiet := *a
		ios := *a.IO
		ios.InTTY = false
		quiet.IO = &ios
		v, err := quiet.openVault()
		if err != nil {
			return "", err
		}
		return v.Identity(ctx)
	}
}

// Timeouts of the command line's own use of the daemon. A daemon that does
// not answer in time is passed over for the vault, so `env` stays within the
// 3 seconds Hermes gives it.
const (
	daemonDialTimeout = 500 * time.Millisecond
	daemonCallTimeout = 2 * time.Second
)

// daemonClient connects to the daemon of this vault, or returns nil when
// none answers (no socket, stale socket, another vault). A socket that is
// not this user's daemon's (daemon.ErrUntrusted: another user's directory
// or process) is refused with a warning, before anything is sent, and the
// command goes on without it.
func (a *App) daemonClient() *daemon.Client {
	root, err := a.hermesRoot()
	if err != nil {
		return nil
	}
	meta, err := a.loadMeta(filepath.Join(root, broker.DirName), true)
	if err != nil {
		return nil
	}
	sock := daemon.SocketPath(a.Env, root)
	if _, err := os.Stat(sock); err != nil {
		return nil
	}
	c, err := daemon.DialTimeout(sock, daemonDialTimeout)
	if errors.Is(err, daemon.ErrUntrusted) {
		fmt.Fprintf(a.IO.ErrOut, "warning: %s\n", printableText(err.Error()))
		if h := xerr.Hint(err); h != "" {
			fmt.Fprintf(a.IO.ErrOut, "hint: %s\n", printableText(h))
		}
	}
	if err != nil {
		return nil
	}
	c.Vault, c.Timeout = meta.ID, daemonCallTimeout
	return c
}

// daemonGet asks a running daemon for ref. handled is false when there is
// no daemon to ask, or it could not answer (locked, another vault, broken):
// the caller then reads the vault itself. A record the daemon does not have
// is an answer: exit 3, as without the daemon.
func (a *App) daemonGet(ctx context.Context, ref string) (val json.RawMessage, handled bool, err error) {
	c := a.daemonClient()
	if c == nil {
		return nil, false, nil
	}
	defer c.Close()
	val, _, err = c.Get(ctx, ref, a.Profile)
	if err == nil {
		return val, true, nil
	}
	var de *daemon.Error
	if errors.As(err, &de) && de.Code == daemon.CodeNotFound {
		return nil, true, xerr.WithCode(xerr.WithHint(err, "`hermes-keys status` lists what is sealed"), xerr.ExitNotFound)
	}
	return nil, false, nil
}

// daemonEnv asks a running daemon for the env records; ok is false when
// the caller should read the vault itself.
func (a *App) daemonEnv(ctx context.Context) (map[string]string, bool) {
	c := a.daemonClient()
	if c == nil {
		return nil, false
	}
	defer c.Close()
	env, err := c.Env(ctx, a.Profile)
	if err != nil {
		return nil, false
	}
	return env, true
}
