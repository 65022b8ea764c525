package hermes

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// corpusFiles returns the auth.json documents of testdata/corpus that
// parse (array.json is the negative case).
func corpusFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("corpus missing: %v %d", err, len(paths))
	}
	out := map[string][]byte{}
	for _, p := range paths {
		if filepath.Base(p) == "array.json" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func mustParse(t testing.TB, b []byte) *Object {
	t.Helper()
	o, err := ParseDoc(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return o
}

func mustMarshal(t testing.TB, o *Object) []byte {
	t.Helper()
	b, err := o.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// copyTree copies testdata/<src> into a fresh temp dir and returns it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := tempDir(t)
	root := filepath.Join("testdata", src)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func python(t testing.TB) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("python interop tests run on POSIX")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 not found: the Python interop check cannot run, and in CI that is a failure")
		}
		t.Skip("SKIPPED: python3 not found; the Python interop check did not run")
	}
	return py
}

// noCanary fails when b holds a canary secret.
func noCanary(t testing.TB, what string, b []byte) {
	t.Helper()
	if i := bytes.Index(b, []byte("CANARY")); i >= 0 {
		lo := max(0, i-60)
		t.Errorf("%s holds a secret near %q", what, strings.ReplaceAll(string(b[lo:i]), "\n", " "))
	}
}

// tempDir is t.TempDir whose removal failing is not a test failure: under
// Wine 8, which the Windows suite runs on, RemoveAll fails.
func tempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hermes-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
