package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Start-up budget (issue 12). Hermes runs `hermes-keys env` at every start
// and scripts call `get` in loops, so package initialisation must do no
// real work: no regexps compiled, no tables built. Allocations at init
// are counted, not timed (the count is the same on a loaded machine).
const (
	// ownInitAllocs bounds each package of this module: a sentinel error
	// made with fmt.Errorf, a backend registry (6 when the budget was set);
	// one package-level regexp costs hundreds.
	ownInitAllocs = 16
	// totalInitAllocs bounds the whole binary, dependencies included
	// (411 when the budget was set, Go 1.26: net/http, jwt, age, crypto,
	// cobra); the margin is for dependency updates.
	totalInitAllocs = 480
)

const modulePrefix = "github.com/hermes-keys/hermes-keys"

var (
	staticOnce sync.Once
	staticPath string
	staticErr  error
)

// buildStatic builds hermes-keys as a user gets it: no test tags, cgo off
// (the README's install command), once per test run.
func buildStatic(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hk-rel-")
		if err != nil {
			staticErr = err
			return
		}
		staticPath = filepath.Join(dir, "hermes-keys")
		cmd := exec.Command("go", "build", "-o", staticPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticPath
}

type initRecord struct {
	pkg    string
	allocs int
}

// parseInitTrace reads GODEBUG=inittrace=1 output: lines such as
// "init net/http @25 ms, 0.11 ms clock, 4712 bytes, 49 allocs".
func parseInitTrace(out []byte) ([]initRecord, error) {
	var recs []initRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != "init" || f[len(f)-1] != "allocs" {
			continue
		}
		n, err := strconv.Atoi(f[len(f)-2])
		if err != nil {
			return nil, fmt.Errorf("bad inittrace line %q", sc.Text())
		}
		recs = append(recs, initRecord{pkg: f[1], allocs: n})
	}
	return recs, sc.Err()
}

// TestInitAllocBudget runs the release binary with GODEBUG=inittrace=1 and
// fails, naming the package, when initialisation allocates more than the
// budget: a package-level regexp, map or parser makes it fail.
func TestInitAllocBudget(t *testing.T) {
	bin := buildStatic(t)
	for _, args := range [][]string{{"version"}, {"get", "--help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"GODEBUG=inittrace=1", "HOME=" + t.TempDir(), "HERMES_HOME=" + t.TempDir()}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.Bytes())
		}
		recs, err := parseInitTrace(stderr.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) < 20 {
			// runtime, os, … always trace: an empty parse is a broken test.
			t.Fatalf("%v: only %d inittrace lines; GODEBUG=inittrace=1 not honoured?\n%s", args, len(recs), stderr.Bytes())
		}
		total := 0
		for _, r := range recs {
			total += r.allocs
			if strings.HasPrefix(r.pkg, modulePrefix) && r.allocs > ownInitAllocs {
				t.Errorf("%v: package %s allocates %d times at init (budget %d): build its regexps and tables on first use",
					args, r.pkg, r.allocs, ownInitAllocs)
			}
		}
		if total > totalInitAllocs {
			sort.Slice(recs, func(i, j int) bool { return recs[i].allocs > recs[j].allocs })
			var top []string
			for _, r := range recs[:min(5, len(recs))] {
				top = append(top, fmt.Sprintf("%s %d", r.pkg, r.allocs))
			}
			t.Errorf("%v: init allocates %d times in all (budget %d); largest: %s",
				args, total, totalInitAllocs, strings.Join(top, ", "))
		}
		t.Logf("%v: %d allocations at init", args, total)
	}
}

func TestParseInitTrace(t *testing.T) {
	out := []byte("init runtime @0.1 ms, 0.02 ms clock, 0 bytes, 0 allocs\n" +
		"hello\n" +
		"init " + modulePrefix + "/broker/hermes @12 ms, 8.7 ms clock, 237576 bytes, 1812 allocs\n")
	recs, err := parseInitTrace(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []initRecord{{"runtime", 0}, {modulePrefix + "/broker/hermes", 1812}}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", recs, want)
	}
}

// TestBinariesStatic: the release build (CGO_ENABLED=0, as the README says
// to install) and the binary the other tests run are static, so the
// cgo-free code paths are the ones tested.
func TestBinariesStatic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF check: Linux only")
	}
	for name, bin := range map[string]string{"release": buildStatic(t), "test": buildBinary(t)} {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s binary has a program interpreter: dynamically linked (build with CGO_ENABLED=0)", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
			t.Errorf("%s binary links %v dynamically", name, libs)
		}
		f.Close()
		out, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("CGO_ENABLED=0")) {
			t.Errorf("%s binary was not built with CGO_ENABLED=0:\n%s", name, out)
		}
	}
}
