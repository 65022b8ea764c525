// Package hermestest provides a Hermes stand-in for tests: a Python program
// that reads and rotates tokens the way Hermes's auth store code does
// (fcntl.flock on auth.lock, temp file + rename), and helpers to run it.
package hermestest

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Script returns the path of fakehermes.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "fakehermes.py")
}

var (
	pyOnce sync.Once
	pyPath string
	pyErr  error
)

// Python returns the python3 interpreter itself: sys.executable, not a
// version manager's shim on PATH (pyenv's costs ~100 ms a start).
func Python() (string, error) {
	pyOnce.Do(func() {
		var out []byte
		out, pyErr = exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		pyPath = strings.TrimSpace(string(out))
		if pyErr == nil && pyPath == "" {
			pyErr = errors.New("python3 has no sys.executable")
		}
	})
	return pyPath, pyErr
}

// Log is what fakehermes.py wrote to its --log.
type Log struct {
	// Latest maps "<store><provider>" ("nous", "work/openai-codex") to
	// the newest sequence number written.
	Latest map[string]int
	// Rotations counts the rotations logged.
	Rotations int
	// Regressions are the REGRESSION lines: an older pair found where a
	// newer one had been written.
	Regressions []string
}

// ReadLog parses a fakehermes.py log. A missing log is an empty one.
func ReadLog(path string) (*Log, error) {
	l := &Log{Latest: map[string]int{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "REGRESSION") {
			l.Regressions = append(l.Regressions, line)
			continue
		}
		name, n, ok := strings.Cut(line, " ")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		l.Rotations++
		if cur, ok := l.Latest[name]; !ok || v > cur {
			l.Latest[name] = v
		}
	}
	return l, sc.Err()
}

// Seq formats n as fakehermes.py numbers its tokens ("0042").
func Seq(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}
