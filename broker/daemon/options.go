package daemon

import (
	"context"
	"io"
	"net"
	"os"
	"time"
)

// Defaults of Options.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultIdleTimeout  = time.Hour
	DefaultMaxClients   = 64
	DefaultQueueWait    = time.Second
)

// Options configure a daemon. Zero values are the defaults.
type Options struct {
	// Dir is the vault directory (<hermes root>/hermes-keys).
	Dir string
	// Socket is the socket path (see SocketPath).
	Socket string
	// Listener is a listener inherited through socket activation; when set
	// the daemon neither creates nor removes Socket.
	Listener net.Listener
	// Log receives one line per notable event (refused peer, unlock, lock,
	// idle forget). Never a secret. Nil discards.
	Log io.Writer
	// Version is reported by status.
	Version string

	// IdleTimeout: with no get, put, env or unlock for this long the daemon
	// forgets the identity. Negative means never; 0 is DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadTimeout bounds how long a connection may take to deliver one whole
	// request line (and how long it may sit idle between requests).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration
	// MaxClients is the number of connections served at once; one more
	// waits up to QueueWait for a slot, then is refused with CodeBusy.
	MaxClients int
	QueueWait  time.Duration

	// Unlocker, when set, gives the identity without user interaction (a
	// keychain read, or the file backend with a passphrase file or systemd
	// credential). The daemon calls it for an unlock request without a
	// passphrase, and when a get, put, env, open or seal finds it locked
	// (unless NoAutoUnlock, or after an explicit lock). Its errors must
	// hold no secret.
	Unlocker func(ctx context.Context) (string, error)
	// NoAutoUnlock: the Unlocker runs only for an unlock request, never
	// on its own for a get, put, env, open or seal.
	NoAutoUnlock bool

	// Now is the clock; nil is time.Now.
	Now func() time.Time

	// SocketPerm and DirPerm override 0600 and 0700. Only tests use them,
	// to let another uid reach the socket and prove the uid check refuses it.
	SocketPerm, DirPerm os.FileMode
}

func (o *Options) setDefaults() {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.QueueWait <= 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SocketPerm == 0 {
		o.SocketPerm = 0o600
	}
	if o.DirPerm == 0 {
		o.DirPerm = 0o700
	}
}
