package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// TestEnvSkipsBadNamesAndValues: a crafted vault record whose name is not
// a variable name, or whose value spans lines, never adds a line of its
// own (HTTPS_PROXY=...) to env's output; stderr names it, escaped, and
// never shows the value.
func TestEnvSkipsBadNamesAndValues(t *testing.T) {
	env, dir := fileVault(t)
	b, err := backends.Open("file", backends.Config{Env: iox.MapEnv(env), Dir: dir, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, err := broker.Open(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	put := map[string]string{
		"env/GOOD_1":                    "CANARY-good",
		"env/X\nHTTPS_PROXY":            "http://CANARY-evil-name",
		"env/1BAD":                      "CANARY-digit-first",
		"env/BAD-DASH":                  "CANARY-dash",
		"env/SPACE BAR":                 "CANARY-space",
		"env/ML":                        "CANARY-ml\nHTTPS_PROXY=http://evil",
		"env/NUL":                       "CANARY-nul\x00x",
		"env/_ok":                       "CANARY-underscore",
		"env/EQ=HTTPS_PROXY":            "http://CANARY-eq",
		"env/\x1b[31mRED":               "CANARY-esc",
		"env/" + strings.Repeat("A", 5): "CANARY-five",
	}
	if _, err := v.Update(context.Background(), func(c *broker.Contents) (bool, error) {
		for k, val := range put {
			raw, _ := json.Marshal(val)
			c.Put(k, broker.KindEnv, raw, v.Now())
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "", "env")
	if code != 0 {
		t.Fatalf("env: exit %d\n%s", code, errOut)
	}
	if want := "AAAAA=CANARY-five\nGOOD_1=CANARY-good\n_ok=CANARY-underscore\n"; out != want {
		t.Fatalf("env printed:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(errOut, "CANARY") || strings.Contains(errOut, "\x1b") {
		t.Fatalf("stderr shows a value or a raw escape:\n%q", errOut)
	}
	for _, name := range []string{`"X\nHTTPS_PROXY"`, "1BAD", "BAD-DASH", "SPACE BAR", "EQ=HTTPS_PROXY", `"\x1b[31mRED"`} {
		if !strings.Contains(errOut, "env:"+name+" is not a valid variable name; skipped") {
			t.Errorf("stderr does not name %s:\n%s", name, errOut)
		}
	}
	for _, name := range []string{"ML", "NUL"} {
		if !strings.Contains(errOut, "env:"+name+" spans lines or holds a NUL; skipped") {
			t.Errorf("stderr does not name %s:\n%s", name, errOut)
		}
	}
}
