package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func TestHotCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "x"}, "get"},
		{[]string{"env"}, "env"},
		{[]string{"version", "--json"}, "version"},
		{[]string{"-p", "work", "get", "x"}, "get"},
		{[]string{"-pwork", "env"}, "env"},
		{[]string{"--profile=work", "env"}, "env"},
		{[]string{"--hermes-home", "/h", "--backend", "file", "--timeout", "1s", "--lock-timeout=2s", "get", "x"}, "get"},
		{[]string{"--backend", "get", "env"}, "env"}, // "get" is --backend's value
		{[]string{"--help", "get"}, ""},
		{[]string{"help", "get"}, ""},
		{[]string{"__complete", "get", ""}, ""},
		{[]string{"completion", "bash"}, ""},
		{[]string{"--", "get"}, ""},
		{[]string{"--bogus", "get"}, ""},
		{[]string{"-x", "get"}, ""},
		{[]string{"status"}, ""},
		{[]string{"run", "--", "get"}, ""},
		{nil, ""},
	} {
		if got := hotCommand(c.args); got != c.want {
			t.Errorf("hotCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// The one-command tree of get, env and version (issue 12) answers exactly as
// the whole tree does: output, errors, help and exit codes.
func TestHotCommandTree(t *testing.T) {
	home := filepath.Join(t.TempDir(), "hermes")
	for _, args := range [][]string{
		{"version"},
		{"version", "--json"},
		{"version", "extra"},
		{"--timeout", "1s", "version"},
		{"-pwork", "version"},
		{"get"},
		{"get", "--help"},
		{"env", "--help"},
		{"-h", "env"},
		{"get", "--bogus"},
		{"env", "--bogus"},
		{"--hermes-home", home, "get", "env:NOPE"},
		{"--hermes-home", home, "get", "bad ref!"},
		{"--hermes-home", home, "-p", "WORK", "get", "openai-codex"},
		{"--hermes-home", home, "env"},
		{"--hermes-home", home, "--backend", "nope", "env"},
	} {
		run := func(tune ...func(*App)) (int, string, string) {
			var out, errOut bytes.Buffer
			ios := &iox.Streams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}
			code := Main(ios, iox.MapEnv(map[string]string{"HOME": t.TempDir()}), args, tune...)
			return code, out.String(), errOut.String()
		}
		hotCode, hotOut, hotErr := run()
		code, out, errOut := run(func(a *App) { a.wholeTree = true })
		if hotCode != code || hotOut != out || hotErr != errOut {
			t.Errorf("%q: one-command tree: exit %d, stdout %q, stderr %q\nwhole tree: exit %d, stdout %q, stderr %q",
				args, hotCode, hotOut, hotErr, code, out, errOut)
		}
	}
}
