//go:build !testhooks

package main

import "github.com/hermes-keys/hermes-keys/internal/iox"

// The inert twin of hooks_testhooks.go: a build without the testhooks tag
// reads no test variable, cannot be crashed on purpose, always uses the
// default scrypt work factor and Codex's own token endpoint.

func armTestHooks() {}

func tuneForTests(*App) {}

func testCodexTokenURL(iox.Env) string { return "" }
