//go:build testhooks

package main

import (
	"os"
	"strconv"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// This file exists only in builds with the testhooks tag (the test suite's);
// hooks_release.go is its inert twin in every other build, so no release
// binary reads these variables.

// armTestHooks arms the crash fault points from HERMES_KEYS_TEST_CRASH
// (see internal/faultpoint).
func armTestHooks() {
	if spec := os.Getenv("HERMES_KEYS_TEST_CRASH"); spec != "" {
		faultpoint.Arm(spec)
		atomicfile.Hook = faultpoint.Hit
	}
}

// tuneForTests lowers the file backend's scrypt work factor to
// HERMES_KEYS_TEST_SCRYPT, so the suite is not slowed by real scrypt.
func tuneForTests(app *App) {
	if n := testScryptWorkFactor(app.Env); n > 0 {
		app.ScryptWorkFactor = n
	}
}

// testScryptWorkFactor is HERMES_KEYS_TEST_SCRYPT, the file backend's
// scrypt work factor for tests; 0 (keep the default) when unset or outside
// the 1-30 that age accepts.
func testScryptWorkFactor(env iox.Env) int {
	n, err := strconv.Atoi(env.Get("HERMES_KEYS_TEST_SCRYPT"))
	if err != nil || n < 1 || n > 30 {
		return 0
	}
	return n
}

// testCodexTokenURL is HERMES_KEYS_CODEX_TOKEN_URL, a local token endpoint
// for tests; "" means Codex's own.
func testCodexTokenURL(env iox.Env) string { return env.Get("HERMES_KEYS_CODEX_TOKEN_URL") }
