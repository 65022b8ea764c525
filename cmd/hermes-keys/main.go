// Command hermes-keys is a keychain-backed secret broker for the Hermes
// agent. See README.md and docs/ for the command line contract.
package main

import (
	"os"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func main() {
	// A no-op unless built with the testhooks tag (hooks_testhooks.go).
	armTestHooks()
	os.Exit(Main(iox.System(), iox.SystemEnv(), os.Args[1:], func(a *App) { a.exitAfter = true }))
}
