//go:build !windows

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
)

// fullLoad: the full load test (64 clients × 10,000 gets) runs with
// HERMES_KEYS_LOAD=1 or when -run names it (go test -run Load); the default
// suite runs the same test scaled down, never skipped.
func fullLoad() bool {
	if os.Getenv("HERMES_KEYS_LOAD") == "1" {
		return true
	}
	f := flag.Lookup("test.run")
	return f != nil && strings.Contains(f.Value.String(), "Load")
}

// vmHWM is the process's peak resident set size in KiB.
func vmHWM(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}

// TestLoad: 64 concurrent clients each do N gets, mixed with
// read-modify-write increments of one counter through put with a
// generation check (retrying on a conflict), while a writer outside the
// daemon (as the CLI would) increments the same counter under the vault
// lock. No error, no lost update: the counter ends at the number of
// successful increments, and its generation one above that.
func TestLoad(t *testing.T) {
	const clients = DefaultMaxClients
	gets, putEvery, directPuts := 300, 150, 5
	if fullLoad() {
		gets, putEvery, directPuts = 10000, 500, 40
	}
	ctx := context.Background()
	f, d, c0 := unlockedDaemon(t, func(o *Options) { o.QueueWait = 30 * time.Second })
	if _, err := c0.Put(ctx, "env:COUNTER", "", json.RawMessage(`"0"`), 0); err != nil {
		t.Fatal(err)
	}
	c0.Close() // its slot goes to the load clients
	eventually(t, "the setup client's slot is free", func() bool { return len(d.srv.sem) == 0 })

	var (
		okPuts, conflicts, getsDone atomic.Int64
		firstErr                    error
		errOnce                     sync.Once
		wg                          sync.WaitGroup
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	increment := func(c *Client) error {
		for range 100000 {
			val, gen, err := c.Get(ctx, "env:COUNTER", "")
			if err != nil {
				return fmt.Errorf("get counter: %w", err)
			}
			var s string
			json.Unmarshal(val, &s)
			n, _ := strconv.Atoi(s)
			_, err = c.Put(ctx, "env:COUNTER", "", json.RawMessage(strconv.Quote(strconv.Itoa(n+1))), int64(gen))
			if code(err) == CodeGeneration {
				conflicts.Add(1)
				continue
			}
			if err != nil {
				return fmt.Errorf("put counter: %w", err)
			}
			okPuts.Add(1)
			return nil
		}
		return fmt.Errorf("starved")
	}
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(d.sock)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			c.Timeout = time.Minute
			for j := range gets {
				val, _, err := c.Get(ctx, "openai-codex.tokens.access_token", "")
				if err != nil {
					fail(fmt.Errorf("client %d get %d: %w", i, j, err))
					return
				}
				if string(val) != `"CANARY-at-1"` {
					fail(fmt.Errorf("client %d: wrong value %s", i, val))
					return
				}
				getsDone.Add(1)
				if j%putEvery == putEvery-1 {
					if err := increment(c); err != nil {
						fail(fmt.Errorf("client %d: %w", i, err))
						return
					}
				}
			}
		}()
	}
	// The writer outside the daemon.
	var directOK atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := f.directVault(t)
		for range directPuts {
			_, err := v.Update(ctx, func(c *broker.Contents) (bool, error) {
				r := c.Records["env/COUNTER"]
				var s string
				json.Unmarshal(r.Value, &s)
				n, _ := strconv.Atoi(s)
				return true, c.PutIf("env/COUNTER", broker.KindEnv, json.RawMessage(strconv.Quote(strconv.Itoa(n+1))), r.Generation, v.Now())
			})
			if err != nil {
				fail(fmt.Errorf("direct writer: %w", err))
				return
			}
			directOK.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if n := getsDone.Load(); n != int64(clients*gets) {
		t.Fatalf("%d gets done, want %d", n, clients*gets)
	}
	wantPuts := int64(clients * (gets / putEvery))
	if okPuts.Load() != wantPuts || directOK.Load() != int64(directPuts) {
		t.Fatalf("successful increments: daemon %d (want %d), direct %d (want %d)", okPuts.Load(), wantPuts, directOK.Load(), directPuts)
	}
	cc, err := f.directVault(t).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := cc.Records["env/COUNTER"]
	total := okPuts.Load() + directOK.Load()
	if string(r.Value) != strconv.Quote(strconv.FormatInt(total, 10)) || r.Generation != uint64(total)+1 {
		t.Fatalf("lost update: counter %s generation %d after %d successful increments", r.Value, r.Generation, total)
	}
	rss := vmHWM(t)
	t.Logf("load: %d clients × %d gets = %d gets + %d increments (%d generation conflicts retried, %d direct) in %s: %.0f gets/s; peak RSS (VmHWM, whole test process) %d KiB",
		clients, gets, clients*gets, total, conflicts.Load(), directOK.Load(), elapsed.Round(time.Millisecond),
		float64(clients*gets)/elapsed.Seconds(), rss)
	if p := os.Getenv("HERMES_KEYS_LOAD_REPORT"); p != "" {
		w, err := os.Create(p)
		if err == nil {
			bw := bufio.NewWriter(w)
			fmt.Fprintf(bw, "clients=%d gets_per_client=%d increments=%d conflicts=%d elapsed_s=%.2f gets_per_s=%.0f vmhwm_kib=%d\n",
				clients, gets, total, conflicts.Load(), elapsed.Seconds(), float64(clients*gets)/elapsed.Seconds(), rss)
			bw.Flush()
			w.Close()
		}
	}
}
