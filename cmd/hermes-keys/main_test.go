package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	if runtime.GOOS == "windows" && os.Getenv("WINEPREFIX") != "" {
		// Under Wine 8 testscript cannot remove its command directory at
		// exit (RemoveAll is broken there), which fails the run; the Wine
		// step runs no script, only TestRunOnWindows.
		os.Exit(m.Run())
	}
	testscript.Main(m, map[string]func(){
		"hermes-keys": func() { os.Exit(Main(iox.System(), iox.SystemEnv(), os.Args[1:])) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script. Each runs the
// real command in a fresh HOME with no session bus, so only the file
// backend is usable unless a script sets one up.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("HERMES_HOME", filepath.Join(e.WorkDir, ".hermes"))
			e.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			e.Setenv("XDG_RUNTIME_DIR", filepath.Join(e.WorkDir, "run"))
			e.Setenv("HERMES_KEYS_TEST_SCRYPT", "10")
			return nil
		},
	})
}
