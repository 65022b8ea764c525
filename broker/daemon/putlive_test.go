//go:build !windows

package daemon

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/session"
)

// TestPutWhileRunLive: while a `hermes-keys run` is live its files are the
// truth for provider blocks and .env keys, so a put of one is refused
// (nothing written). After the run leaves, the block is put.
func TestPutWhileRunLive(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := startDaemon(t, f, nil)
	c := dial(t, d.sock)
	if err := c.UnlockPassphrase(ctx, []byte(testPass), 0); err != nil {
		t.Fatal(err)
	}
	_, gen, err := c.Get(ctx, "openai-codex", "")
	if err != nil {
		t.Fatal(err)
	}
	reg := &session.Registry{Dir: filepath.Join(f.dir, "sessions")}
	sess, err := reg.Join(ctx, func(bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	block := json.RawMessage(`{"tokens": {"access_token": "CANARY-put-live"}}`)
	if _, err := c.Put(ctx, "openai-codex", "", block, int64(gen)); code(err) != CodeLive || ExitCode(code(err)) != 1 {
		t.Fatalf("put of a block while a run is live: %v", err)
	}
	if _, g2, _ := c.Get(ctx, "openai-codex", ""); g2 != gen {
		t.Fatalf("the refused put wrote: generation %d -> %d", gen, g2)
	}
	// env records too: run materialises them into .env, whose next seal
	// would overwrite the put.
	if _, err := c.Put(ctx, "env:LIVE_OK", "", json.RawMessage(`"value-1"`), -1); code(err) != CodeLive {
		t.Fatalf("put of an env record while a run is live: %v", err)
	}
	if err := reg.Leave(ctx, sess, func(bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if g, err := c.Put(ctx, "openai-codex", "", block, int64(gen)); err != nil || g != gen+1 {
		t.Fatalf("put after the run left: generation %d, %v", g, err)
	}
	_ = broker.KindEnv
}
