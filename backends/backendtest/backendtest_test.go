package backendtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
)

// The fake must pass, whatever its limit: below 6 KB (the refusal path), at
// keyctl's limit, and with none.
func TestFake(t *testing.T) {
	for _, limit := range []int{2560, 32767, 0} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			b, _ := backends.NewFake(limit)
			backendtest.Run(t, b)
		})
	}
}

// childEnv selects what a re-executed test binary does in TestChild.
const childEnv = "HK_BACKENDTEST_CHILD"

// The suite must be able to fail: each broken store below runs in a child
// test binary, which must fail, saying why.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for mode, want := range map[string]string{
		"truncate":    "got 4000 bytes",
		"leak":        "an error message contains the secret value",
		"silent-miss": "want ErrNotFound",
		"torn":        "not one of the values written",
	} {
		t.Run(mode, func(t *testing.T) {
			out, err := child(t, "TestChild", childEnv+"="+mode)
			if err == nil {
				t.Fatalf("suite passed a %s store:\n%s", mode, out)
			}
			if !strings.Contains(out, want) {
				t.Fatalf("suite failed a %s store without saying %q:\n%s", mode, want, out)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	const v = "HK_BACKENDTEST_REAL"
	out, err := child(t, "TestChildRequire", childEnv+"=require", "CI=true", v+"=")
	if err == nil || !strings.Contains(out, "cannot run in CI") {
		t.Errorf("CI=true, %s unset: want a failure saying it cannot run in CI, got err=%v:\n%s", v, err, out)
	}
	out, err = child(t, "TestChildRequire", childEnv+"=require", "CI=", v+"=")
	if err != nil || !strings.Contains(out, "REAL BACKEND SUITE SKIPPED") {
		t.Errorf("CI unset, %s unset: want a loud skip, got err=%v:\n%s", v, err, out)
	}
	out, err = child(t, "TestChildRequire", childEnv+"=require", "CI=true", v+"=1")
	if err != nil || !strings.Contains(out, "required backend ran") {
		t.Errorf("%s=1: want the suite to run, got err=%v:\n%s", v, err, out)
	}
}

func child(t *testing.T, test string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestChildRequire(t *testing.T) {
	if os.Getenv(childEnv) != "require" {
		t.Skip("runs only as a child of TestRequire")
	}
	backendtest.Require(t, "HK_BACKENDTEST_REAL", "test")
	t.Log("required backend ran")
}

func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" || mode == "require" {
		t.Skip("runs only as a child of TestSuiteCatchesBrokenStores")
	}
	_, f := backends.NewFake(0)
	backendtest.Run(t, backends.Guard("broken", &broken{mode: mode, h: f}, 0, 0))
}

// broken wraps a working store and breaks it one way.
type broken struct {
	mode string
	h    backends.Holder
}

func (b *broken) Get(ctx context.Context, a string) (string, error) {
	v, err := b.h.Get(ctx, a)
	if b.mode == "silent-miss" && errors.Is(err, backends.ErrNotFound) {
		return "", nil
	}
	if b.mode == "torn" && strings.Contains(a, "shared") && len(v) > 10 {
		return v[:10], err
	}
	return v, err
}

func (b *broken) Set(ctx context.Context, a, v string) error {
	if b.mode == "truncate" && len(v) > 4000 {
		v = v[:4000]
	}
	if b.mode == "leak" && len(v) > 5000 {
		return fmt.Errorf("store refused %q", v)
	}
	return b.h.Set(ctx, a, v)
}

func (b *broken) Delete(ctx context.Context, a string) error { return b.h.Delete(ctx, a) }
func (b *broken) Probe(ctx context.Context) error            { return b.h.Probe(ctx) }
