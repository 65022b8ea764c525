package backends

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// Config is what opening a backend may need. Zero values are usable defaults.
type Config struct {
	Env iox.Env
	IO  *iox.Streams
	// Dir is the vault directory (<root>/hermes-keys); the file backend keeps
	// identity.age there.
	Dir     string
	Timeout time.Duration
	// GOOS overrides runtime.GOOS, for tests of the auto order.
	GOOS string
	// ScryptWorkFactor for the file backend; 0 means age's default (18).
	ScryptWorkFactor int
	// Namespace prefixes names in shared stores (keyctl keyring name, pass
	// folder), so tests never collide with a user's items. Empty means Service.
	Namespace string
}

func (c Config) goos() string {
	if c.GOOS != "" {
		return c.GOOS
	}
	return runtime.GOOS
}

func (c Config) namespace() string {
	if c.Namespace != "" {
		return c.Namespace
	}
	return Service
}

type opener func(Config) (*Backend, error)

// registry maps backend names to constructors. Platform files add to it in
// init; constructors do no I/O, so registering costs nothing at start-up.
var registry = map[string]opener{}

func register(name string, o opener) { registry[name] = o }

// Names lists the backends compiled into this binary, sorted.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Open returns the named backend. It does not probe it.
func Open(name string, cfg Config) (*Backend, error) {
	o, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknown, name, Names())
	}
	return o(cfg)
}

// Status is one line of `hermes-keys backends`.
type Status struct {
	Name       string `json:"name"`
	Usable     bool   `json:"usable"`
	Reason     string `json:"reason,omitempty"`
	Limit      int    `json:"limit_bytes"`
	Persistent bool   `json:"persistent"`
	// Auto is true for backends that `auto` may pick on this OS.
	Auto bool `json:"auto"`
}

// ProbeAll probes every backend concurrently, each within cfg.Timeout, and
// returns them sorted by name.
func ProbeAll(ctx context.Context, cfg Config) []Status {
	names := Names()
	out := make([]Status, len(names))
	done := make(chan struct{}, len(names))
	auto := map[string]bool{}
	for _, n := range AutoOrder(cfg.goos()) {
		auto[n] = true
	}
	for i, n := range names {
		go func() {
			defer func() { done <- struct{}{} }()
			st := Status{Name: n, Auto: auto[n]}
			b, err := Open(n, cfg)
			if err == nil {
				st.Limit, st.Persistent = b.Limit, b.Persistent
				err = b.Probe(ctx)
			}
			st.Usable = err == nil
			if err != nil {
				st.Reason = err.Error()
			}
			out[i] = st
		}()
	}
	for range names {
		<-done
	}
	return out
}
