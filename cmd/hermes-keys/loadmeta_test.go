package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker"
)

func writeMeta(t *testing.T, dir, id string) {
	t.Helper()
	m := broker.Meta{Format: 1, ID: id, Backend: "file", Recipients: []string{"age1x"}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, broker.MetaFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadMetaKeptOnceOnly: get and env read vault.json once (the daemon
// check keeps it for the vault open), but what was kept serves one open
// only, so a long-lived run never opens the vault with a stale vault.json.
func TestLoadMetaKeptOnceOnly(t *testing.T) {
	dir := t.TempDir()
	a := &App{}
	writeMeta(t, dir, "first")
	if m, err := a.loadMeta(dir, true); err != nil || m.ID != "first" {
		t.Fatalf("loadMeta = %v, %v", m.ID, err)
	}
	writeMeta(t, dir, "second")
	if m, _ := a.loadMeta(dir, false); m.ID != "first" {
		t.Fatalf("the open after the daemon check read vault.json again (%s), want the kept copy", m.ID)
	}
	if m, _ := a.loadMeta(dir, false); m.ID != "second" {
		t.Fatalf("a later open used a stale vault.json (%s), want a fresh read", m.ID)
	}
	if m, _ := a.loadMeta(t.TempDir(), false); m.ID != "" {
		t.Fatalf("another directory got this one's vault.json (%s)", m.ID)
	}
}
