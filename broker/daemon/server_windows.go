package daemon

import (
	"context"
	"net"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// ErrAlreadyRunning means another daemon answers on the socket.
var ErrAlreadyRunning = ErrUnsupported

// Server is not available on Windows: there is no peer uid to check.
type Server struct{}

// Listen fails on Windows: the daemon is not supported on windows.
func Listen(opts Options) (*Server, error) { return nil, ErrUnsupported }

// Serve is never reached on Windows.
func (s *Server) Serve(ctx context.Context) error { return ErrUnsupported }

// Addr is empty on Windows.
func (s *Server) Addr() string { return "" }

// VaultID is empty on Windows.
func (s *Server) VaultID() string { return "" }

// ListenerFromEnv never finds an inherited listener on Windows.
func ListenerFromEnv(env iox.Env, pid int) (net.Listener, error) { return nil, nil }
