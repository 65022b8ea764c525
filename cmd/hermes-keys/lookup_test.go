package main

import (
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

func TestPutGetEnv(t *testing.T) {
	env, _ := fileVault(t)
	const key = "CANARY-sk-or-123456"
	if code, out, errOut := runCLI(t, env, key+"\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatalf("put: %d %s", code, errOut)
	} else if strings.Contains(out+errOut, key) {
		t.Fatal("put echoed the secret")
	}
	code, out, errOut := runCLI(t, env, "", "get", "env:OPENROUTER_API_KEY")
	if code != 0 || out != key+"\n" {
		t.Fatalf("get: %d %q %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "", "env")
	if code != 0 || out != "OPENROUTER_API_KEY="+key+"\n" {
		t.Fatalf("env: %d %q", code, out)
	}
	// A field of a provider block, and the block as JSON.
	code, out, _ = runCLI(t, env, "", "get", "nous.refresh_token")
	if code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get field: %d %q", code, out)
	}
	code, out, _ = runCLI(t, env, "", "get", "nous", "--json")
	if code != 0 || !strings.Contains(out, `"refresh_token": "CANARY-cli-1"`) {
		t.Fatalf("get block: %d %q", code, out)
	}
}

func TestGetMissingExit3(t *testing.T) {
	env, _ := fileVault(t)
	for _, ref := range []string{"env:NOPE", "openai-codex", "nous.tokens.access_token", "pool:anthropic/abc"} {
		code, out, errOut := runCLI(t, env, "", "get", ref)
		if code != xerr.ExitNotFound || out != "" || !strings.Contains(errOut, "hint:") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", ref, code, out, errOut)
		}
	}
	if code, _, _ := runCLI(t, env, "", "get", "../etc"); code != xerr.ExitUsage {
		t.Errorf("bad ref: exit %d, want 2", code)
	}
}

func TestPutGenerationCheck(t *testing.T) {
	env, _ := fileVault(t)
	block := `{"tokens":{"access_token":"CANARY-a1","refresh_token":"CANARY-r1"}}`
	if code, _, errOut := runCLI(t, env, block, "put", "openai-codex", "--if-generation", "0"); code != 0 {
		t.Fatalf("first put: %d %s", code, errOut)
	}
	// A second writer that also believed the record was new loses.
	code, _, errOut := runCLI(t, env, block, "put", "openai-codex", "--if-generation", "0")
	if code != xerr.ExitFailed || !strings.Contains(errOut, "changed since it was read") {
		t.Fatalf("conflicting put: %d %s", code, errOut)
	}
	if strings.Contains(errOut, "CANARY") {
		t.Fatal("error holds a secret")
	}
	code, out, _ := runCLI(t, env, `{"tokens":{"access_token":"CANARY-a2"}}`, "put", "openai-codex", "--if-generation", "1", "--json")
	if code != 0 || !strings.Contains(out, `"generation":2`) {
		t.Fatalf("put at generation 1: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, env, "not json", "put", "openai-codex"); code != xerr.ExitFailed {
		t.Fatalf("non-JSON block: exit %d", code)
	}
	if code, _, _ := runCLI(t, env, "x", "put", "openai-codex.tokens.access_token"); code != xerr.ExitUsage {
		t.Fatalf("put of a path: exit %d", code)
	}
}

func TestEnvNeverPrompts(t *testing.T) {
	env, _ := fileVault(t)
	delete(env, "HERMES_KEYS_PASSPHRASE")
	code, out, errOut := runCLI(t, env, "", "env")
	if code != xerr.ExitLocked || out != "" {
		t.Fatalf("env without passphrase: %d %q %s", code, out, errOut)
	}
}
