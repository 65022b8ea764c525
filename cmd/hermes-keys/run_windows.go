package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func isExecutable(os.FileInfo) bool { return true }

// runChild runs argv and returns its exit code. The console delivers
// Ctrl-C to CMD itself; run ignores it and waits for CMD to decide.
func runChild(_ context.Context, a *App, argv []string, env []string, _ *os.File) (int, error) {
	path, err := lookPath(argv[0])
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.IO.In, a.IO.Out, a.IO.ErrOut
	signal.Ignore(os.Interrupt)
	defer signal.Reset(os.Interrupt)
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, xerr.WithCode(fmt.Errorf("%s: %w", argv[0], err), 127)
	}
	return 0, nil
}
