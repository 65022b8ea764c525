package hermes

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/hermes-keys/hermes-keys/internal/lazyre"
)

// Install is what the files of the installed Hermes say about it. It is
// read from disk only: running `hermes --version` takes about 2 s (measured
// on 0.19.0: 2.2 s wall, 0.6 s CPU), too slow for doctor and migrate.
type Install struct {
	// Program is the hermes program found on PATH (links resolved).
	Program string `json:"program"`
	// Source is the directory holding Hermes's packages (hermes_cli/,
	// agent/), "" when it was not found.
	Source string `json:"source,omitempty"`
	// Version is hermes_cli.__version__, "" when unknown.
	Version string `json:"version,omitempty"`
	// CommandSource: Hermes has the command secret source
	// (agent/secret_sources/command.py), which runs secrets.command.
	// Released 0.19.0 has not: it ignores a secrets.command block.
	CommandSource bool `json:"command_source"`
}

// ErrNoHermes: no hermes program on PATH.
var ErrNoHermes = errors.New("no hermes program found on PATH")

// DetectInstall finds the hermes program with lookPath and reads its
// installation: the venv behind its interpreter (a pip install, or a
// source directory named by a .pth file there) or the checkout around its
// venv (the official installer's ~/.hermes/hermes-agent). It reads a few
// small files, and gives up at ctx's deadline (a hung network file system
// must not hang doctor).
func DetectInstall(ctx context.Context, lookPath func(string) (string, error)) (Install, error) {
	type result struct {
		in  Install
		err error
	}
	ch := make(chan result, 1)
	go func() {
		in, err := detectInstall(lookPath)
		ch <- result{in, err}
	}()
	select {
	case r := <-ch:
		return r.in, r.err
	case <-ctx.Done():
		return Install{}, ctx.Err()
	}
}

func detectInstall(lookPath func(string) (string, error)) (Install, error) {
	prog, err := lookPath("hermes")
	if err != nil {
		return Install{}, ErrNoHermes
	}
	if p, err := filepath.EvalSymlinks(prog); err == nil {
		prog = p
	}
	in := Install{Program: prog}
	var venvs []string
	if py := shebang(prog); py != "" {
		venvs = append(venvs, filepath.Dir(filepath.Dir(py)))
	}
	venvs = append(venvs, filepath.Dir(filepath.Dir(prog)))
	for _, v := range venvs {
		if src := sourceOf(v); src != "" {
			in.Source = src
			break
		}
	}
	if in.Source == "" {
		return in, nil
	}
	in.Version = versionOf(in.Source)
	if fi, err := os.Stat(filepath.Join(in.Source, "agent", "secret_sources", "command.py")); err == nil && fi.Mode().IsRegular() {
		in.CommandSource = true
	}
	return in, nil
}

// shebang returns the interpreter of a script's #! line, "" for none.
func shebang(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReaderSize(f, 512).ReadString('\n')
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	fields := strings.Fields(line[2:])
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return ""
	}
	return fields[0]
}

// isSource: dir holds Hermes's CLI package.
func isSource(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "hermes_cli", "__init__.py"))
	return err == nil && fi.Mode().IsRegular()
}

// sourceOf finds Hermes's packages for a venv: in its site-packages (pip),
// in a directory a .pth file there names (an editable or source install),
// or in the directory around the venv (a git checkout with its venv).
func sourceOf(venv string) string {
	sites, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	sites = append(sites, filepath.Join(venv, "Lib", "site-packages")) // Windows
	for _, s := range sites {
		if isSource(s) {
			return s
		}
		pths, _ := filepath.Glob(filepath.Join(s, "*.pth"))
		for _, p := range pths {
			b, err := readSmall(p, 64<<10)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "import ") || !filepath.IsAbs(line) {
					continue
				}
				if isSource(line) {
					return line
				}
			}
		}
	}
	if up := filepath.Dir(venv); isSource(up) {
		return up
	}
	return ""
}

var versionRE = lazyre.New(`(?m)^__version__\s*=\s*["']([^"'\n]{1,32})["']`)

// versionOf reads hermes_cli.__version__.
func versionOf(src string) string {
	b, err := readSmall(filepath.Join(src, "hermes_cli", "__init__.py"), 1<<20)
	if err != nil {
		return ""
	}
	m := versionRE.Re().FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}
