package hermes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func writeT(t *testing.T, p, s string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), perm); err != nil {
		t.Fatal(err)
	}
}

// fakeSource lays out Hermes's packages in dir (with the command source
// when cmd).
func fakeSource(t *testing.T, dir, version string, cmd bool) {
	writeT(t, filepath.Join(dir, "hermes_cli", "__init__.py"), "\"\"\"Hermes.\"\"\"\n\n__version__ = \""+version+"\"\n__release_date__ = \"x\"\n", 0o644)
	writeT(t, filepath.Join(dir, "agent", "secret_sources", "base.py"), "", 0o644)
	if cmd {
		writeT(t, filepath.Join(dir, "agent", "secret_sources", "command.py"), "", 0o644)
	}
}

func lookIn(p string) func(string) (string, error) {
	return func(string) (string, error) { return p, nil }
}

// The three layouts Hermes is installed in: pip (site-packages), a source
// directory named by a .pth file (our tarball install, editable installs),
// and the official installer's checkout around its venv.
func TestDetectInstall(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX venv layouts")
	}
	dir := tempDir(t)

	pip := filepath.Join(dir, "pip")
	site := filepath.Join(pip, "lib", "python3.12", "site-packages")
	fakeSource(t, site, "0.21.0", true)
	writeT(t, filepath.Join(pip, "bin", "python"), "", 0o755)
	writeT(t, filepath.Join(pip, "bin", "hermes"), "#!"+filepath.Join(pip, "bin", "python")+"\nimport sys\n", 0o755)

	pth := filepath.Join(dir, "pth")
	fakeSource(t, filepath.Join(pth, "src"), "0.19.0", false)
	writeT(t, filepath.Join(pth, "lib", "python3.11", "site-packages", "hermes_agent_src.pth"), "# comment\nimport os\n"+filepath.Join(pth, "src")+"\n", 0o644)
	writeT(t, filepath.Join(pth, "bin", "hermes"), "#!"+filepath.Join(pth, "bin", "python")+"\n", 0o755)

	checkout := filepath.Join(dir, "hermes-agent")
	fakeSource(t, checkout, "0.20.1", true)
	writeT(t, filepath.Join(checkout, "venv", "bin", "hermes"), "#!/usr/bin/env python3\n", 0o755)
	// ~/.local/bin/hermes, a link to it, as the installer makes.
	link := filepath.Join(dir, "local", "bin", "hermes")
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(filepath.Join(checkout, "venv", "bin", "hermes"), link); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, prog, src, version string
		cmd                      bool
	}{
		{"pip", filepath.Join(pip, "bin", "hermes"), site, "0.21.0", true},
		{"pth", filepath.Join(pth, "bin", "hermes"), filepath.Join(pth, "src"), "0.19.0", false},
		{"checkout", link, checkout, "0.20.1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := DetectInstall(context.Background(), lookIn(c.prog))
			if err != nil {
				t.Fatal(err)
			}
			if in.Source != c.src || in.Version != c.version || in.CommandSource != c.cmd {
				t.Errorf("got %+v, want source %s version %s command source %v", in, c.src, c.version, c.cmd)
			}
		})
	}

	// Found, but no packages beside it: the program only.
	bare := filepath.Join(dir, "bare", "bin", "hermes")
	writeT(t, bare, "#!/bin/sh\n", 0o755)
	if in, err := DetectInstall(context.Background(), lookIn(bare)); err != nil || in.Source != "" || in.CommandSource || in.Program != bare {
		t.Errorf("bare: %+v %v", in, err)
	}
	// None on PATH.
	none := func(string) (string, error) { return "", errors.New("not found") }
	if _, err := DetectInstall(context.Background(), none); !errors.Is(err, ErrNoHermes) {
		t.Errorf("no hermes: %v", err)
	}
	// A lookup that hangs ends at the deadline.
	stop := make(chan struct{})
	defer close(stop)
	hang := func(string) (string, error) { <-stop; return "", errors.New("stopped") }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := DetectInstall(ctx, hang); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung lookup: %v", err)
	}
}

// BenchmarkDetectInstall on the real Hermes (internal/realhermes checks
// what it finds there, through doctor). 0.19.0 measured: 0.8 ms, against
// 2.2 s for `hermes --version`.
func BenchmarkDetectInstall(b *testing.B) {
	p := os.Getenv("HERMES_KEYS_REAL_HERMES")
	if p == "" {
		b.Skip("HERMES_KEYS_REAL_HERMES not set")
	}
	for i := 0; i < b.N; i++ {
		if _, err := DetectInstall(context.Background(), lookIn(p)); err != nil {
			b.Fatal(err)
		}
	}
}
