//go:build testhooks

package faultpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	armed atomic.Bool
	mu    sync.Mutex
	name  string
	nth   int
	hits  int
)

// Arm sets the crash point from spec; "" disarms.
func Arm(spec string) {
	mu.Lock()
	defer mu.Unlock()
	if spec == "" {
		armed.Store(false)
		return
	}
	name, nth, hits = spec, 1, 0
	if i := strings.LastIndexByte(spec, ':'); i > 0 {
		if n, err := strconv.Atoi(spec[i+1:]); err == nil && n > 0 {
			name, nth = spec[:i], n
		}
	}
	armed.Store(true)
}

// Hit marks that the process reached step; if armed for it, the process
// dies here.
func Hit(step string) {
	if !armed.Load() {
		return
	}
	mu.Lock()
	if step != name {
		mu.Unlock()
		return
	}
	hits++
	die := hits == nth
	mu.Unlock()
	if die {
		kill()
	}
}

func kill() {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		p.Kill()
	}
	select {} // Kill is asynchronous on some platforms; never go on
}
