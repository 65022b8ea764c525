//go:build !windows

package backends

// pass is for users who already keep their secrets in a GPG password store
// and want the vault key there too, with the store's git history and GPG
// keys (a hardware token, say) doing the protecting. We run the `pass`
// program rather than gpg ourselves so its hooks, git commits and
// per-folder .gpg-id recipients behave as the user expects.
//
// The secret only ever travels on the child's stdin and stdout, never argv.
// The child's environment is built from cfg.Env, not inherited, so what pass
// sees is what the caller injected.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"golang.org/x/sync/semaphore"
)

// passLimit is ours: pass has no limit, but every call pipes the whole value
// through gpg, and a vault key is 74 bytes. Same cap as the file backend.
const passLimit = 64 << 10

// passEnv are the variables handed to pass from cfg.Env: what pass, gpg,
// pinentry and git need, and nothing else.
var passEnv = []string{
	"PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR",
	"GNUPGHOME", "GPG_TTY", "GPG_AGENT_INFO", "DISPLAY", "WAYLAND_DISPLAY",
	"XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
	"PASSWORD_STORE_KEY", "PASSWORD_STORE_GPG_OPTS", "PASSWORD_STORE_UMASK",
	"PASSWORD_STORE_GIT", "PASSWORD_STORE_SIGNING_KEY",
}

func init() {
	register("pass", func(cfg Config) (*Backend, error) {
		return Guard("pass", &pass{env: cfg.Env, ns: cfg.namespace(), lock: semaphore.NewWeighted(passWriters)}, passLimit, cfg.Timeout), nil
	})
}

// passWriters is the weight a writer takes: all of it, so readers wait.
const passWriters = 1 << 20

type pass struct {
	env iox.Env
	ns  string
	// lock keeps readers off a file gpg is rewriting in place (pass insert
	// is not atomic), within this process; callers wait no longer than
	// their deadline.
	lock *semaphore.Weighted
}

// store is the password store directory, as pass itself resolves it.
func (p *pass) store() (string, error) {
	if d := p.env.Get("PASSWORD_STORE_DIR"); d != "" {
		return d, nil
	}
	if h := p.env.Get("HOME"); h != "" {
		return filepath.Join(h, ".password-store"), nil
	}
	return "", fmt.Errorf("%w: pass: neither PASSWORD_STORE_DIR nor HOME is set", ErrUnavailable)
}

func (p *pass) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := lookPathEnv(p.env, "pass"); err != nil {
		return err
	}
	if _, err := lookPathEnv(p.env, "gpg"); err != nil {
		if _, err2 := lookPathEnv(p.env, "gpg2"); err2 != nil {
			return err
		}
	}
	dir, err := p.store()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, ".gpg-id")); err != nil {
		return fmt.Errorf("%w: pass store not initialised (run: pass init GPG-ID)", ErrUnavailable)
	}
	return nil
}

func (p *pass) Get(ctx context.Context, account string) (string, error) {
	if err := p.lock.Acquire(ctx, 1); err != nil {
		return "", err
	}
	defer p.lock.Release(1)
	name, err := p.entry(account)
	if err != nil {
		return "", err
	}
	if err := p.exists(account, name); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd, err := p.command(ctx, &out, nil, "show", name)
	if err != nil {
		return "", err
	}
	if err := cmd.Run(); err != nil {
		clear(out.Bytes())
		if err := p.exists(account, name); err != nil {
			return "", err // removed by another process meanwhile
		}
		// Neither stdout nor stderr of show goes into the error: a
		// partial decryption could put the secret in either.
		return "", fmt.Errorf("pass: %s: show: %w", p.item(account), passRunErr(ctx, err))
	}
	s := out.String()
	clear(out.Bytes())
	return s, nil
}

func (p *pass) Set(ctx context.Context, account, secret string) error {
	if err := p.lock.Acquire(ctx, passWriters); err != nil {
		return err
	}
	defer p.lock.Release(passWriters)
	name, err := p.entry(account)
	if err != nil {
		return err
	}
	// -m takes stdin as-is until EOF and hands it to gpg: no prompt, no
	// confirmation, no trailing newline added.
	var stderr bytes.Buffer
	cmd, err := p.command(ctx, nil, &stderr, "insert", "-m", "-f", name)
	if err != nil {
		return err
	}
	cmd.Stdin = strings.NewReader(secret)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pass: %s: insert: %w%s", p.item(account), passRunErr(ctx, err), stderrLine(&stderr))
	}
	return nil
}

func (p *pass) Delete(ctx context.Context, account string) error {
	if err := p.lock.Acquire(ctx, passWriters); err != nil {
		return err
	}
	defer p.lock.Release(passWriters)
	name, err := p.entry(account)
	if err != nil {
		return err
	}
	if err := p.exists(account, name); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd, err := p.command(ctx, nil, &stderr, "rm", "-f", name)
	if err != nil {
		return err
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pass: %s: rm: %w%s", p.item(account), passRunErr(ctx, err), stderrLine(&stderr))
	}
	return nil
}

// exists tells not-found from the store file, which does not depend on the
// language or version of pass.
func (p *pass) exists(account, name string) error {
	dir, err := p.store()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, name+".gpg")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pass: %s: %w", p.item(account), ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("pass: %s: %w", p.item(account), err)
	}
	return nil
}

// command runs pass with an environment built only from cfg.Env. On the
// deadline the whole process group goes (pass is a shell script that runs
// gpg), and Wait stops waiting for pipes held by stray grandchildren.
func (p *pass) command(ctx context.Context, stdout, stderr *bytes.Buffer, args ...string) (*exec.Cmd, error) {
	bin, err := lookPathEnv(p.env, "pass")
	if err != nil {
		return nil, err
	}
	dir, err := p.store()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PASSWORD_STORE_DIR=" + dir}
	for _, k := range passEnv {
		if v := p.env.Get(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 500 * time.Millisecond
	return cmd, nil
}

// entry is the store path of account: <namespace>/<account>, each part
// escaped so that ':' and any '/' or leading '.' cannot leave the folder.
func (p *pass) entry(account string) (string, error) {
	if account == "" {
		return "", errors.New("pass: empty account name")
	}
	return passEscape(p.ns) + "/" + passEscape(account), nil
}

func (p *pass) item(account string) string { return p.ns + "/" + account }

// passEscape keeps [A-Za-z0-9._-] and writes every other byte, and a leading
// dot, as %XX, so distinct names stay distinct and none is a path.
func passEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if ok {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// lookPathEnv finds an executable on cfg.Env's PATH (exec.LookPath would read
// the process environment).
func lookPathEnv(env iox.Env, name string) (string, error) {
	for _, dir := range filepath.SplitList(env.Get("PATH")) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found on PATH", ErrUnavailable, name)
}

// passRunErr reports a deadline as ErrTimeout rather than "signal: killed".
func passRunErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// stderrLine is the first line of a child's stderr, for errors of commands
// that never print the secret (insert, rm).
func stderrLine(b *bytes.Buffer) string {
	line, _, _ := strings.Cut(strings.TrimSpace(b.String()), "\n")
	if line == "" {
		return ""
	}
	if len(line) > 200 {
		line = line[:200]
	}
	return " (" + line + ")"
}
