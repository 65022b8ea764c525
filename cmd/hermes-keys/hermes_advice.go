package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// detectHermes reads the Hermes installed on the injected PATH, within a
// second (files only; see hermes.DetectInstall).
func detectHermes(ctx context.Context, a *App) (hermes.Install, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	look := func(name string) (string, error) {
		if p := doctorLookPath(a.Env.Get("PATH"), name); p != "" {
			return p, nil
		}
		return "", errors.New("not found")
	}
	return hermes.DetectInstall(ctx, look)
}

// commandSourceWorks: the installed Hermes runs a secrets.command block.
func commandSourceWorks(in hermes.Install, err error) bool {
	return err == nil && in.CommandSource && runtime.GOOS != "windows"
}

// hermesName is "Hermes 0.19.0 (/path/to/hermes)" or as much as is known.
func hermesName(in hermes.Install) string {
	v := "Hermes"
	if in.Version != "" {
		v += " " + in.Version
	}
	return v + " (" + in.Program + ")"
}

// envAdvice is how sealed .env keys reach the Hermes installed here: the
// command secret source where Hermes has one, else `run` (Hermes 0.19.0
// ignores a secrets.command block silently; Windows has no such source).
func envAdvice(in hermes.Install, err error) string {
	switch {
	case commandSourceWorks(in, err):
		return `add to config.yaml: secrets: {command: {enabled: true, command: "hermes-keys env"}} (docs/hermes.md), or start Hermes with hermes-keys run`
	case err == nil && in.Source != "" && runtime.GOOS != "windows":
		return fmt.Sprintf("start Hermes with `hermes-keys run -- hermes …` (alias hermes='hermes-keys run -- hermes'): %s has no command secret source and would ignore a secrets.command block running `hermes-keys env`", hermesName(in))
	case runtime.GOOS == "windows":
		return "start Hermes with `hermes-keys run -- hermes …`: Hermes has no command secret source on Windows"
	default:
		return "start Hermes with `hermes-keys run -- hermes …`; a secrets.command block running `hermes-keys env` works only with a Hermes that has the command secret source (released after 0.19.0)"
	}
}

// envSnippetFor is what migrate --env prints about getting the keys back.
func envSnippetFor(in hermes.Install, err error) string {
	if commandSourceWorks(in, err) {
		return envSnippet
	}
	return "\nHermes reads .env first, so the keys had to leave .env. Hermes gets them back\nwhen started through `hermes-keys run`: " + envAdvice(in, err) + ".\n\n"
}
