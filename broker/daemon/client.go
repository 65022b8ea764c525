package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
)

// Client defaults.
const (
	DefaultDialTimeout = 2 * time.Second
	DefaultCallTimeout = 10 * time.Second
	// maxResponse bounds one response line; the vault itself is capped at
	// 256 MiB.
	maxResponse = 256 << 20
)

// Client talks to a daemon over one connection. Its methods are safe for
// concurrent use; calls on one Client are serialised.
type Client struct {
	// Timeout bounds each call unless ctx has an earlier deadline.
	Timeout time.Duration
	// Vault, when set, is sent with every request: the daemon refuses with
	// CodeVaultMismatch when it serves another vault.
	Vault string

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	buf    []byte
	nextID int64
	broken error
}

// Error is a failed response.
type Error struct {
	Code    string
	Message string
	Hint    string
}

func (e *Error) Error() string { return e.Message }

// Unwrap maps the code to the sentinel the command layer tests with
// errors.Is (and so to its exit code).
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeNotFound:
		return broker.ErrNotFound
	case CodeGeneration:
		return broker.ErrGeneration
	case CodeLocked:
		return backends.ErrLocked
	case CodeBadPassphrase:
		return backends.ErrBadPassphrase
	case CodeLockTimeout:
		return broker.ErrLockTimeout
	}
	return nil
}

// ExitCode is the command line's exit code for this error.
func (e *Error) ExitCode() int { return ExitCode(e.Code) }

// Dial connects to the daemon at path with DefaultDialTimeout.
func Dial(path string) (*Client, error) { return DialTimeout(path, DefaultDialTimeout) }

// DialTimeout connects to this user's daemon at path within d. Before it
// sends anything it checks that the socket's directory belongs to this
// user and no one else may write to it, and that the listening process
// runs as this user (SO_PEERCRED, LOCAL_PEERCRED); otherwise it fails
// with ErrUntrusted and has sent nothing. On platforms where it cannot
// tell, it fails with ErrUnsupported.
func DialTimeout(path string, d time.Duration) (*Client, error) {
	if !peerCredSupported {
		return nil, ErrUnsupported
	}
	uid := os.Getuid()
	if err := checkSocketDir(path, uid); err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("unix", path, d)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(conn, path, uid); err != nil {
		conn.Close()
		return nil, err
	}
	return &Client{Timeout: DefaultCallTimeout, conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req (its v and id are filled in) and returns the response. A
// failed response comes back as *Error. A transport error (timeout, closed
// connection) breaks the client: later calls fail at once.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	c.nextID++
	req.V, req.ID = Version, c.nextID
	if req.Vault == "" {
		req.Vault = c.Vault
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	limit := MaxLine
	if req.Op == OpSeal {
		limit = MaxSealLine
	}
	if len(b)+1 > limit {
		return nil, ErrTooLarge
	}
	b = append(b, '\n')
	deadline := time.Now().Add(c.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (*Response, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		c.broken = fmt.Errorf("broker daemon connection: %w", err)
		c.conn.Close()
		return nil, c.broken
	}
	if _, err := c.conn.Write(b); err != nil {
		return fail(err)
	}
	line, err := readLine(c.r, maxResponse, c.buf[:0])
	if cap(line) <= 64<<10 {
		c.buf = line
	}
	if err != nil {
		return fail(err)
	}
	resp := &Response{}
	if err := json.Unmarshal(line, resp); err != nil {
		return fail(errors.New("the daemon sent a malformed response"))
	}
	if !resp.OK {
		if resp.Code == "" {
			resp.Code = CodeInternal
		}
		derr := &Error{Code: resp.Code, Message: resp.Error, Hint: resp.Hint}
		if resp.ID != req.ID || resp.Code == CodeForbidden || resp.Code == CodeBusy || resp.Code == CodeTimeout || resp.Code == CodeTooLarge {
			// The daemon closes the connection after these.
			c.broken = derr
			c.conn.Close()
		}
		return resp, derr
	}
	if resp.ID != req.ID {
		return fail(fmt.Errorf("response id %d for request %d", resp.ID, req.ID))
	}
	return resp, nil
}

// Ping checks that the daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Op: OpPing})
	return err
}

// Get returns the value at ref (JSON) and its record's generation.
func (c *Client) Get(ctx context.Context, ref, profile string) (json.RawMessage, uint64, error) {
	resp, err := c.Do(ctx, &Request{Op: OpGet, Ref: ref, Profile: profile})
	if err != nil {
		return nil, 0, err
	}
	return resp.Value, resp.Generation, nil
}

// Put stores a whole record at ref and returns its new generation. With
// ifGeneration >= 0 it succeeds only if the record is still at that
// generation (0: must not exist); -1 writes unconditionally.
func (c *Client) Put(ctx context.Context, ref, profile string, value json.RawMessage, ifGeneration int64) (uint64, error) {
	req := &Request{Op: OpPut, Ref: ref, Profile: profile, Value: value}
	if ifGeneration >= 0 {
		g := uint64(ifGeneration)
		req.IfGeneration = &g
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	return resp.Generation, nil
}

// Env returns NAME -> value of the env records visible to profile.
func (c *Client) Env(ctx context.Context, profile string) (map[string]string, error) {
	resp, err := c.Do(ctx, &Request{Op: OpEnv, Profile: profile})
	if err != nil {
		return nil, err
	}
	if resp.Env == nil {
		resp.Env = map[string]string{}
	}
	return resp.Env, nil
}

// Status returns what the daemon says about itself.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.Do(ctx, &Request{Op: OpStatus})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("the daemon sent no status")
	}
	return resp.Status, nil
}

// Unlock has the daemon read the vault key from its own backend (a
// keychain, or a non-interactive passphrase source) and hold it for ttl
// (0: until lock, the idle timeout or the daemon's end). The key never
// crosses the socket.
func (c *Client) Unlock(ctx context.Context, ttl time.Duration) error {
	_, err := c.Do(ctx, &Request{Op: OpUnlock, TTLSeconds: ttl.Seconds()})
	return err
}

// UnlockPassphrase has the daemon open the file backend's identity.age with
// passphrase (an scrypt, about a second).
func (c *Client) UnlockPassphrase(ctx context.Context, passphrase []byte, ttl time.Duration) error {
	_, err := c.Do(ctx, &Request{Op: OpUnlock, Passphrase: string(passphrase), TTLSeconds: ttl.Seconds()})
	return err
}

// Lock makes the daemon forget the identity; it stays locked (no
// auto-unlock) until the next unlock.
func (c *Client) Lock(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Op: OpLock})
	return err
}

// Open returns every record of the vault, values included.
func (c *Client) Open(ctx context.Context) (*Snapshot, error) {
	resp, err := c.Do(ctx, &Request{Op: OpOpen})
	if err != nil {
		return nil, err
	}
	if resp.Contents == nil {
		return nil, errors.New("the daemon sent no records")
	}
	return resp.Contents, nil
}

// Seal applies changes in one vault write and returns the records after
// it. A record no longer at its Expect fails it with broker.ErrGeneration
// (through *Error), and nothing is written.
func (c *Client) Seal(ctx context.Context, changes []Change) (*Snapshot, error) {
	resp, err := c.Do(ctx, &Request{Op: OpSeal, Changes: changes})
	if err != nil {
		return nil, err
	}
	if resp.Contents == nil {
		return nil, errors.New("the daemon sent no records")
	}
	return resp.Contents, nil
}
