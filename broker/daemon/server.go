//go:build !windows

package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/session"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
	"golang.org/x/sys/unix"
)

// ErrAlreadyRunning means another daemon answers on the socket, or holds
// its lock.
var ErrAlreadyRunning = errors.New("a broker daemon is already running")

// errLocked is the daemon's own "no identity in memory".
var errLocked = fmt.Errorf("%w: the broker daemon holds no vault key", backends.ErrLocked)

// autoUnlockBackoff keeps a failing Unlocker (wrong passphrase file: an
// scrypt per attempt) from running on every request.
const autoUnlockBackoff = 5 * time.Second

// Server is a listening daemon. Serve runs it.
type Server struct {
	opts   Options
	meta   broker.Meta
	ln     net.Listener
	sockLk *lockfile.Lock
	uid    int
	sem    chan struct{}

	mu           sync.Mutex
	vault        *broker.Vault // nil while locked
	expires      time.Time     // zero: no ttl
	explicitLock bool          // locked by a lock request: no auto-unlock
	autoFailedAt time.Time
	conns        map[net.Conn]struct{}

	lastUse  atomic.Int64 // unix nanoseconds of the last get/put/env/unlock
	cache    atomic.Pointer[cacheEntry]
	unlockMu sync.Mutex // one auto-unlock at a time
	readMu   sync.Mutex // one decrypt at a time when the cache is stale
	putMu    sync.Mutex // puts of this daemon, one at a time
	logMu    sync.Mutex
	wg       sync.WaitGroup
}

// cacheEntry is the decrypted vault, valid while vault.age's stamp is the
// same and the identity that read it is still held.
type cacheEntry struct {
	vault *broker.Vault
	stamp stamp
	c     *broker.Contents
}

// stamp identifies one version of vault.age. Every write replaces the file
// by rename, so the inode changes; size, mtime and ctime catch the rest.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func statStamp(path string) (stamp, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return stamp{}, err
	}
	return stamp{
		dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, nil
}

// Listen opens the vault's metadata and the socket (or takes the inherited
// listener). It refuses to start when a live daemon already answers on the
// socket, and removes a stale one.
func Listen(opts Options) (*Server, error) {
	opts.setDefaults()
	if !peerCredSupported {
		return nil, ErrUnsupported
	}
	meta, err := broker.LoadMeta(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, meta: meta, uid: os.Getuid(), sem: make(chan struct{}, opts.MaxClients), conns: map[net.Conn]struct{}{}}
	if opts.Listener != nil {
		s.ln = opts.Listener
		if opts.Socket == "" {
			s.opts.Socket = opts.Listener.Addr().String()
		}
		return s, nil
	}
	if opts.Socket == "" {
		return nil, errors.New("no socket path")
	}
	if len(opts.Socket) > maxSocketPath {
		return nil, xerr.Hintf(fmt.Errorf("socket path %s is %d bytes, longer than the %d a Unix socket allows", opts.Socket, len(opts.Socket), maxSocketPath),
			"set HERMES_KEYS_SOCKET to a shorter path in a 0700 directory of your own (never a shared one such as /tmp)")
	}
	if err := s.prepareDir(filepath.Dir(opts.Socket)); err != nil {
		return nil, err
	}
	lk, err := lockfile.AcquireTimeout(context.Background(), opts.Socket+".lock", 300*time.Millisecond)
	if errors.Is(err, lockfile.ErrTimeout) {
		return nil, xerr.Hintf(fmt.Errorf("%w: another `hermes-keys serve` holds %s.lock", ErrAlreadyRunning, opts.Socket),
			"stop it first, or use it: `hermes-keys get` finds it on its own")
	}
	if err != nil {
		return nil, err
	}
	if err := s.removeStale(opts.Socket); err != nil {
		lk.Unlock()
		return nil, err
	}
	ln, err := net.Listen("unix", opts.Socket)
	if err != nil {
		lk.Unlock()
		return nil, fmt.Errorf("listen on %s: %w", opts.Socket, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(opts.Socket, opts.SocketPerm); err != nil {
		ln.Close()
		lk.Unlock()
		return nil, err
	}
	s.ln, s.sockLk = ln, lk
	return s, nil
}

// maxSocketPath is sun_path's size less the terminating NUL (104 on BSDs
// and macOS, 108 on Linux); the smaller is used everywhere.
const maxSocketPath = 103

// prepareDir makes the socket's directory. A directory we create, or our
// own hermes-keys directory, is made 0700. Any other must already belong
// to us and be writable by no one else: clients refuse a socket in any
// other directory (checkSocketDir), since its owner or its other writers
// could put their own socket in its place.
func (s *Server) prepareDir(dir string) error {
	_, statErr := os.Lstat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if int(st.Uid) != s.uid {
		return xerr.Hintf(fmt.Errorf("socket directory %s belongs to %s, not to this user (%s)", dir, userName(int(st.Uid)), userName(s.uid)),
			"remove it, or set HERMES_KEYS_SOCKET to a path in a directory of your own")
	}
	if created || filepath.Base(dir) == broker.DirName {
		return os.Chmod(dir, s.opts.DirPerm)
	}
	if st.Mode&0o022 != 0 {
		return xerr.Hintf(fmt.Errorf("socket directory %s is writable by others (mode %04o): clients would refuse the socket", dir, st.Mode&0o7777),
			"set HERMES_KEYS_SOCKET to a path in a directory only you can write, e.g. $XDG_RUNTIME_DIR/hermes-keys")
	}
	return nil
}

// removeStale removes our own socket when nobody answers on it. A live
// daemon, a file that is not a socket, or another user's socket is left
// alone and reported, with its owner.
func (s *Server) removeStale(path string) error {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return xerr.Hintf(fmt.Errorf("%s exists, is not a socket, and belongs to %s", path, userName(int(st.Uid))), "remove it, or set HERMES_KEYS_SOCKET")
	}
	if int(st.Uid) != s.uid {
		return xerr.Hintf(fmt.Errorf("%s is a socket of %s, not of this user (%s)", path, userName(int(st.Uid)), userName(s.uid)),
			"ask its owner to remove it, or set HERMES_KEYS_SOCKET to a path in a directory of your own")
	}
	c, err := DialTimeout(path, time.Second)
	if errors.Is(err, ErrUntrusted) {
		return xerr.Hintf(fmt.Errorf("%w on %s: %w", ErrAlreadyRunning, path, err), "find it with `fuser %s`", path)
	}
	if err == nil {
		c.Timeout = time.Second
		perr := c.Ping(context.Background())
		c.Close()
		var de *Error
		if perr == nil || errors.As(perr, &de) {
			return xerr.Hintf(fmt.Errorf("%w on %s", ErrAlreadyRunning, path), "stop it first, or use it: `hermes-keys get` finds it on its own")
		}
		return xerr.Hintf(fmt.Errorf("%w: a process accepts connections on %s but does not answer", ErrAlreadyRunning, path),
			"find it with `fuser %s`", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// Addr is the socket path.
func (s *Server) Addr() string { return s.opts.Socket }

// VaultID is the id of the vault the daemon serves.
func (s *Server) VaultID() string { return s.meta.ID }

func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.opts.Log, "hermes-keys serve: "+format+"\n", args...)
}

// Serve accepts connections until ctx is done, then closes every
// connection, forgets the identity and removes the socket it created.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}()
	go s.reaper(ctx)
	s.logf("listening on %s for vault %s", s.opts.Socket, s.meta.ID)
	var err error
	for {
		var conn net.Conn
		conn, err = s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.EINTR) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		s.wg.Add(1)
		go s.serveConn(ctx, conn)
	}
	cancel()
	s.wg.Wait()
	s.forget(false, "")
	if s.sockLk != nil {
		s.sockLk.Unlock()
	}
	s.logf("stopped")
	return err
}

// reaper forgets the identity at its ttl or after the idle timeout, even
// when nobody asks.
func (s *Server) reaper(ctx context.Context) {
	tick := time.Second
	if it := s.opts.IdleTimeout; it > 0 && it/4 < tick {
		tick = max(it/4, 5*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			s.expireLocked()
			s.mu.Unlock()
		}
	}
}

// expireLocked forgets an identity past its ttl or idle timeout; s.mu held.
func (s *Server) expireLocked() {
	if s.vault == nil {
		return
	}
	now := s.opts.Now()
	switch {
	case !s.expires.IsZero() && !now.Before(s.expires):
		s.forgetLocked()
		s.logf("forgot the vault key: its unlock ttl ran out")
	case s.opts.IdleTimeout > 0 && now.Sub(time.Unix(0, s.lastUse.Load())) >= s.opts.IdleTimeout:
		s.forgetLocked()
		s.logf("forgot the vault key after %s without use", s.opts.IdleTimeout)
	}
}

func (s *Server) forgetLocked() {
	s.vault = nil
	s.expires = time.Time{}
	s.cache.Store(nil)
}

func (s *Server) forget(explicit bool, why string) {
	s.mu.Lock()
	had := s.vault != nil
	s.forgetLocked()
	if explicit {
		s.explicitLock = true
	}
	s.mu.Unlock()
	if had && why != "" {
		s.logf("forgot the vault key: %s", why)
	}
}

func (s *Server) touch() { s.lastUse.Store(s.opts.Now().UnixNano()) }

func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return
	}
	uid, pid, err := peerCred(uc)
	if err != nil || uid != s.uid {
		if err != nil {
			s.logf("refused a connection: cannot read the peer's credentials: %v", err)
		} else {
			s.logf("refused a connection from uid %d, %s (this daemon serves uid %d only)", uid, describePeer(pid), s.uid)
		}
		s.writeResp(conn, failure(0, CodeForbidden, "the broker daemon serves its own user only", ""))
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		t := time.NewTimer(s.opts.QueueWait)
		select {
		case s.sem <- struct{}{}:
			t.Stop()
		case <-t.C:
			s.logf("refused a connection: %d clients already connected", s.opts.MaxClients)
			s.writeResp(conn, failure(0, CodeBusy, fmt.Sprintf("the broker daemon is serving %d clients already", s.opts.MaxClients), "retry shortly"))
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()

	r := bufio.NewReaderSize(conn, 16<<10)
	var buf []byte
	for {
		conn.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
		line, err := readLine(r, MaxSealLine, buf[:0])
		if cap(line) <= 64<<10 {
			buf = line // keep a small buffer, never a seal's
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrTooLarge):
			s.logf("closed a connection: request line over %d bytes", MaxLine)
			s.writeResp(conn, failure(0, CodeTooLarge, ErrTooLarge.Error(), "send one request per line, each under 1 MiB"))
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			if len(line) > 0 {
				s.logf("closed a connection: no complete request line within %s", s.opts.ReadTimeout)
			}
			s.writeResp(conn, failure(0, CodeTimeout, fmt.Sprintf("no complete request line within %s", s.opts.ReadTimeout), ""))
			return
		default:
			return // EOF or a broken connection
		}
		req, derr := DecodeRequest(line)
		var resp *Response
		if errors.Is(derr, ErrTooLarge) {
			var id int64
			if req != nil {
				id = req.ID
			}
			s.logf("closed a connection: request line over %d bytes", MaxLine)
			s.writeResp(conn, failure(id, CodeTooLarge, ErrTooLarge.Error(), "send one request per line, each under 1 MiB"))
			return
		}
		if derr != nil {
			var id int64
			if req != nil {
				id = req.ID
			}
			resp = failure(id, decodeCode(derr), derr.Error(), "see docs/servers.md for the protocol")
		} else {
			resp = s.handle(ctx, req, pid)
		}
		if !s.writeResp(conn, resp) {
			return
		}
	}
}

func (s *Server) writeResp(conn net.Conn, resp *Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(failure(resp.ID, CodeInternal, "cannot encode the response", ""))
	}
	b = append(b, '\n')
	conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, err = conn.Write(b)
	return err == nil
}

func failure(id int64, code, msg, hint string) *Response {
	return &Response{V: Version, ID: id, Code: code, Error: msg, Hint: hint}
}

func errResponse(id int64, err error) *Response {
	code := CodeInternal
	switch {
	case errors.Is(err, broker.ErrNotFound):
		code = CodeNotFound
	case errors.Is(err, broker.ErrGeneration):
		code = CodeGeneration
	case errors.Is(err, backends.ErrBadPassphrase), errors.Is(err, broker.ErrWrongKey):
		code = CodeBadPassphrase
	case errors.Is(err, backends.ErrLocked):
		code = CodeLocked
	case errors.Is(err, broker.ErrLockTimeout), errors.Is(err, lockfile.ErrTimeout):
		code = CodeLockTimeout
	case errors.Is(err, broker.ErrBadRef), errors.Is(err, errBadValue):
		code = CodeBadRequest
	}
	return failure(id, code, err.Error(), xerr.Hint(err))
}

func (s *Server) handle(ctx context.Context, req *Request, peer int) *Response {
	if req.Vault != "" && req.Vault != s.meta.ID {
		return failure(req.ID, CodeVaultMismatch, fmt.Sprintf("this daemon serves vault %s, not %s", s.meta.ID, req.Vault),
			"the daemon was started for another Hermes home; start one per home with its own --socket")
	}
	ok := &Response{V: Version, ID: req.ID, OK: true}
	switch req.Op {
	case OpPing:
		return ok
	case OpStatus:
		ok.Status = s.status()
		return ok
	case OpLock:
		s.forget(true, "lock requested")
		ok.Status = s.status()
		return ok
	case OpUnlock:
		if err := s.unlock(ctx, req, peer); err != nil {
			return errResponse(req.ID, err)
		}
		ok.Status = s.status()
		return ok
	case OpGet:
		return s.get(ctx, req, ok)
	case OpEnv:
		c, err := s.contents(ctx)
		if err != nil {
			return errResponse(req.ID, err)
		}
		env, err := c.EnvRecords(req.Profile)
		if err != nil {
			return errResponse(req.ID, err)
		}
		ok.Env = env
		return ok
	case OpPut:
		return s.put(ctx, req, ok)
	case OpOpen:
		c, err := s.contents(ctx)
		if err != nil {
			return errResponse(req.ID, err)
		}
		ok.Contents = &Snapshot{VaultID: c.VaultID, Generation: c.Generation, Records: c.Records}
		s.logf("handed every record (%d) to %s", len(c.Records), describePeer(peer))
		return ok
	case OpSeal:
		return s.seal(ctx, req, ok, peer)
	}
	return failure(req.ID, CodeBadRequest, ErrUnknownOp.Error(), "")
}

func (s *Server) get(ctx context.Context, req *Request, ok *Response) *Response {
	ref, err := broker.ParseRef(req.Ref)
	if err != nil {
		return errResponse(req.ID, err)
	}
	c, err := s.contents(ctx)
	if err != nil {
		return errResponse(req.ID, err)
	}
	key, rec, err := c.Lookup(req.Profile, ref)
	if err != nil {
		return errResponse(req.ID, xerr.WithHint(err, "`hermes-keys status` lists what is sealed"))
	}
	val, err := broker.Extract(rec.Value, ref.Path)
	if err != nil {
		return errResponse(req.ID, xerr.WithHint(err, "`hermes-keys status` lists what is sealed"))
	}
	ok.Key, ok.Value, ok.Generation = key, val, rec.Generation
	return ok
}

func (s *Server) put(ctx context.Context, req *Request, ok *Response) *Response {
	ref, err := broker.ParseRef(req.Ref)
	if err != nil {
		return errResponse(req.ID, err)
	}
	if len(ref.Path) > 0 {
		return failure(req.ID, CodeBadRequest, "put takes a whole record, not a field of one", "get the block, change it, and put it back whole")
	}
	kind, val, err := putValue(ref, req.Value)
	if err != nil {
		return errResponse(req.ID, err)
	}
	v, err := s.unlocked(ctx)
	if err != nil {
		return errResponse(req.ID, err)
	}
	s.touch()
	key := broker.Scope(req.Profile) + ref.Key
	s.putMu.Lock()
	defer s.putMu.Unlock()
	if req.IfGeneration != nil {
		// Answer a conflict that the current vault.age already shows
		// without taking the vault lock: with many writers of one record,
		// those that lost the race to the previous put fail here cheaply.
		// A put that passes is checked again under the lock by Update.
		c, err := s.contents(ctx)
		if err != nil {
			return errResponse(req.ID, err)
		}
		var have uint64 // c is shared with readers: look, never PutIf
		if r := c.Records[key]; r != nil {
			have = r.Generation
		}
		if have != *req.IfGeneration {
			err := fmt.Errorf("%s: %w (generation is %d, expected %d)", key, broker.ErrGeneration, have, *req.IfGeneration)
			return errResponse(req.ID, xerr.WithHint(err, "someone else wrote it first; get it again and retry"))
		}
	}
	var c *broker.Contents
	update := func() (err error) {
		c, err = v.Update(ctx, func(c *broker.Contents) (bool, error) {
			if req.IfGeneration != nil {
				return true, c.PutIf(key, kind, val, *req.IfGeneration, v.Now())
			}
			return c.Put(key, kind, val, v.Now()), nil
		})
		return err
	}
	// env: records too: run materialises them into .env.
	err = session.WhileNoRun(ctx, s.opts.Dir, 5*time.Second, update)
	if errors.Is(err, session.ErrLive) {
		return failure(req.ID, CodeLive, err.Error()+": Hermes's file is the truth for "+key+" while it runs; nothing was written",
			"put it when no run is live, or let Hermes change it")
	}
	if err != nil {
		if errors.Is(err, broker.ErrGeneration) {
			err = xerr.WithHint(err, "someone else wrote it first; get it again and retry")
		}
		return errResponse(req.ID, err)
	}
	ok.Key, ok.Generation = key, c.Records[key].Generation
	return ok
}

// seal applies a client's record changes in one vault write (see OpSeal).
// Unlike put it does not wait for runs to end: its client is a run.
func (s *Server) seal(ctx context.Context, req *Request, ok *Response, peer int) *Response {
	v, err := s.unlocked(ctx)
	if err != nil {
		return errResponse(req.ID, err)
	}
	s.touch()
	s.putMu.Lock()
	defer s.putMu.Unlock()
	c, err := v.Update(ctx, func(c *broker.Contents) (bool, error) { return applyChanges(c, req.Changes) })
	if err != nil {
		if errors.Is(err, broker.ErrGeneration) {
			err = xerr.WithHint(err, "someone else wrote it first; open the vault again and retry")
		}
		return errResponse(req.ID, err)
	}
	ok.Contents = &Snapshot{VaultID: c.VaultID, Generation: c.Generation, Records: c.Records}
	s.logf("sealed %d record change(s) from %s", len(req.Changes), describePeer(peer))
	return ok
}

var errBadValue = errors.New("bad value")

// putValue checks a put's value: a one-line JSON string for env:NAME, a
// JSON object otherwise (as the put command does).
func putValue(ref broker.Ref, raw json.RawMessage) (string, json.RawMessage, error) {
	if strings.HasPrefix(ref.Key, "env/") {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" || strings.ContainsAny(s, "\r\n\x00") {
			return "", nil, fmt.Errorf("%w: an env value must be a non-empty one-line JSON string", errBadValue)
		}
		b, _ := json.Marshal(s)
		return broker.KindEnv, b, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", nil, fmt.Errorf("%w: a provider block, pool entry or document is a JSON object", errBadValue)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", nil, fmt.Errorf("%w: not compact-able JSON", errBadValue)
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

// unlocked returns the vault with its identity, unlocking it through the
// Unlocker when allowed.
func (s *Server) unlocked(ctx context.Context) (*broker.Vault, error) {
	s.mu.Lock()
	s.expireLocked()
	v, explicit, failedAt := s.vault, s.explicitLock, s.autoFailedAt
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	if s.opts.Unlocker == nil || s.opts.NoAutoUnlock || explicit {
		return nil, xerr.WithHint(errLocked, "run `hermes-keys unlock`")
	}
	if !failedAt.IsZero() && s.opts.Now().Sub(failedAt) < autoUnlockBackoff {
		return nil, xerr.WithHint(fmt.Errorf("%w (reading it from the backend failed moments ago)", errLocked), "run `hermes-keys unlock`")
	}
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.mu.Lock()
	v = s.vault
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	id, err := s.opts.Unlocker(ctx)
	if err == nil {
		v, err = s.newVault(id)
	}
	if err != nil {
		s.mu.Lock()
		s.autoFailedAt = s.opts.Now()
		s.mu.Unlock()
		s.logf("could not read the vault key from the backend: %v", err)
		return nil, xerr.WithHint(fmt.Errorf("%w (reading it from the backend failed: %v)", errLocked, err), "run `hermes-keys unlock`")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.explicitLock { // a lock came in meanwhile
		return nil, xerr.WithHint(errLocked, "run `hermes-keys unlock`")
	}
	s.touch()
	s.vault, s.expires, s.autoFailedAt = v, time.Time{}, time.Time{}
	s.logf("unlocked the vault from its backend")
	return v, nil
}

func (s *Server) newVault(identity string) (*broker.Vault, error) {
	meta, err := broker.LoadMeta(s.opts.Dir)
	if err != nil {
		return nil, err
	}
	if meta.ID != s.meta.ID {
		return nil, fmt.Errorf("%s now holds vault %s, not %s: restart the daemon", s.opts.Dir, meta.ID, s.meta.ID)
	}
	v := &broker.Vault{Dir: s.opts.Dir, Meta: meta, Now: s.opts.Now}
	if err := v.SetIdentity(identity); err != nil {
		return nil, err
	}
	return v, nil
}

// unlock reads the vault key from the daemon's own backend: with the
// passphrase the client sent (the file backend), or through the Unlocker
// (a keychain, or a passphrase source of the daemon's). A client never
// hands the daemon the key itself.
func (s *Server) unlock(ctx context.Context, req *Request, peer int) error {
	var id string
	if req.Passphrase != "" {
		if _, err := os.Stat(filepath.Join(s.opts.Dir, backends.IdentityFile)); err != nil {
			return fmt.Errorf("%w: this vault's key is not in a passphrase file (backend %s)", errBadValue, s.meta.Backend)
		}
		pass := req.Passphrase
		env := func(k string) string {
			if k == "HERMES_KEYS_PASSPHRASE" {
				return pass
			}
			return ""
		}
		b, err := backends.Open("file", backends.Config{Env: env, Dir: s.opts.Dir, Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		bv, err := broker.Open(s.opts.Dir, b)
		if err != nil {
			return err
		}
		if id, err = bv.Identity(ctx); err != nil {
			return err
		}
	} else {
		if s.opts.Unlocker == nil {
			return xerr.WithHint(fmt.Errorf("%w: this daemon has no backend to read it from", errLocked), "send the passphrase (`hermes-keys unlock` does)")
		}
		var err error
		if id, err = s.opts.Unlocker(ctx); err != nil {
			return fmt.Errorf("read the vault key from the backend: %w", err)
		}
	}
	v, err := s.newVault(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.vault, s.explicitLock, s.autoFailedAt = v, false, time.Time{}
	s.expires = time.Time{}
	if req.TTLSeconds > 0 {
		s.expires = s.opts.Now().Add(time.Duration(req.TTLSeconds * float64(time.Second)))
	}
	s.cache.Store(nil)
	s.mu.Unlock()
	s.touch()
	if req.Passphrase != "" {
		s.logf("unlocked the vault with a passphrase from %s", describePeer(peer))
	} else {
		s.logf("unlocked the vault from its backend, asked by %s", describePeer(peer))
	}
	return nil
}

// contents returns the decrypted vault, from the cache while vault.age is
// unchanged. Other processes write the vault, so the file's stamp is
// checked on every call.
func (s *Server) contents(ctx context.Context) (*broker.Contents, error) {
	v, err := s.unlocked(ctx)
	if err != nil {
		return nil, err
	}
	s.touch()
	path := filepath.Join(v.Dir, broker.VaultFile)
	st, err := statStamp(path)
	if err == nil {
		if e := s.cache.Load(); e != nil && e.vault == v && e.stamp == st {
			return e.c, nil
		}
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for range 3 {
		before, err := statStamp(path)
		if err == nil {
			if e := s.cache.Load(); e != nil && e.vault == v && e.stamp == before {
				return e.c, nil
			}
		}
		c, err := v.Read(ctx)
		if err != nil {
			return nil, err
		}
		after, aerr := statStamp(path)
		if aerr == nil && after == before {
			// Store only if the identity is still held (no lock meanwhile).
			s.mu.Lock()
			if s.vault == v {
				s.cache.Store(&cacheEntry{vault: v, stamp: after, c: c})
			}
			s.mu.Unlock()
			return c, nil
		}
		// The file changed while we read it: read again.
		if ctx.Err() != nil {
			return c, nil
		}
	}
	return v.Read(ctx)
}

func (s *Server) status() *Status {
	s.mu.Lock()
	s.expireLocked()
	v, expires, explicit := s.vault, s.expires, s.explicitLock
	s.mu.Unlock()
	st := &Status{
		Locked: v == nil, VaultID: s.meta.ID, Dir: s.opts.Dir, Version: s.opts.Version, PID: os.Getpid(),
		Clients: len(s.sem), MaxClients: s.opts.MaxClients,
		AutoUnlock: s.opts.Unlocker != nil && !s.opts.NoAutoUnlock && !explicit,
	}
	if s.opts.IdleTimeout > 0 {
		st.IdleTimeoutSeconds = s.opts.IdleTimeout.Seconds()
	}
	if v != nil {
		if e := s.cache.Load(); e != nil && e.vault == v {
			st.Records, st.Generation = len(e.c.Records), e.c.Generation
		}
		if !expires.IsZero() {
			st.ExpiresInSeconds = expires.Sub(s.opts.Now()).Seconds()
		}
	}
	return st
}

// applyChanges applies a seal to c (the daemon's side, under the vault
// lock): every Expect is checked before anything changes.
func applyChanges(c *broker.Contents, changes []Change) (bool, error) {
	for _, ch := range changes {
		var have uint64
		if r := c.Records[ch.Key]; r != nil {
			have = r.Generation
		}
		if have != ch.Expect {
			return false, fmt.Errorf("%s: %w (generation is %d, expected %d)", ch.Key, broker.ErrGeneration, have, ch.Expect)
		}
		if ch.Record != nil && (!json.Valid(ch.Record.Value) || bytes.Equal(bytes.TrimSpace(ch.Record.Value), []byte("null")) || ch.Record.Kind == "") {
			return false, fmt.Errorf("%w: %s: a sealed record needs a kind and a JSON value", errBadValue, ch.Key)
		}
	}
	for _, ch := range changes {
		if ch.Record == nil {
			delete(c.Records, ch.Key)
			continue
		}
		c.Records[ch.Key] = ch.Record
	}
	return true, nil
}
