// Command hermes-keys is a keychain-backed secret broker for the Hermes
// agent. See README.md and docs/ for the command line contract.
package main

import (
	"os"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func main() {
	// Only crash tests set this; see internal/faultpoint.
	if spec := os.Getenv("HERMES_KEYS_TEST_CRASH"); spec != "" {
		faultpoint.Arm(spec)
		atomicfile.Hook = faultpoint.Hit
	}
	os.Exit(Main(iox.System(), iox.SystemEnv(), os.Args[1:]))
}
