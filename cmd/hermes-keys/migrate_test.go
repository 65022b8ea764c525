package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// copyTree copies the corpus home tree into a fresh directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), ".hermes")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readJSON(t *testing.T, p string) any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

// secretDocs are the files migrate seals, relative to the root.
var secretDocs = []string{"auth.json", "profiles/work/auth.json", ".anthropic_oauth.json", "shared/nous_auth.json"}

// TestMigrateUnmigrateRoundTrip: on the corpus home tree (root, a profile,
// shared Nous store, Anthropic OAuth, .env), migrate --all-profiles --env
// leaves no canary in any secret document, is a no-op the second time, and
// unmigrate returns every document to a semantically equal one.
func TestMigrateUnmigrateRoundTrip(t *testing.T) {
	root := copyTree(t, filepath.Join("..", "..", "broker", "hermes", "testdata", "home"))
	env := map[string]string{"HERMES_HOME": root, "HERMES_KEYS_BACKEND": "file", "HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10", "HOME": filepath.Dir(root)}
	before := map[string]any{}
	for _, d := range secretDocs {
		before[d] = readJSON(t, filepath.Join(root, d))
	}
	envBefore, _ := os.ReadFile(filepath.Join(root, ".env"))

	// The dry run changes nothing and prints no value.
	code, out, errOut := runCLI(t, env, "", "migrate", "--all-profiles", "--env", "--dry-run")
	if code != 0 || !strings.Contains(out, "would seal") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "CANARY") {
		t.Fatal("dry run printed a secret")
	}
	if _, err := os.Stat(filepath.Join(root, "hermes-keys")); !os.IsNotExist(err) {
		t.Fatal("dry run created the vault")
	}

	code, out, errOut = runCLI(t, env, "", "migrate", "--all-profiles", "--env", "--yes")
	if code != 0 {
		t.Fatalf("migrate: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "CANARY") {
		t.Fatal("migrate printed a secret")
	}
	for _, d := range append(secretDocs, ".env", "profiles/work/.env") {
		b, _ := os.ReadFile(filepath.Join(root, d))
		if strings.Contains(string(b), "CANARY") {
			t.Errorf("%s still holds a secret after migrate", d)
		}
	}
	if doc, err := hermes.ReadDoc(filepath.Join(root, "auth.json")); err != nil || !hasMember(doc, "hermes_keys") {
		t.Fatalf("skeleton lacks the marker: %v", err)
	}
	code, out, _ = runCLI(t, env, "", "migrate", "--all-profiles", "--env", "--yes")
	if code != 0 || !strings.Contains(out, "nothing to seal") {
		t.Fatalf("second migrate: %d %s", code, out)
	}

	code, out, errOut = runCLI(t, env, "", "unmigrate", "--all-profiles", "--yes")
	if code != 0 {
		t.Fatalf("unmigrate: %d\n%s\n%s", code, out, errOut)
	}
	for _, d := range secretDocs {
		got := readJSON(t, filepath.Join(root, d))
		if !reflect.DeepEqual(got, before[d]) {
			t.Errorf("%s differs after the round trip", d)
		}
	}
	envAfter, _ := hermes.ReadEnvFile(filepath.Join(root, ".env"))
	envOrig := hermes.ParseEnv(envBefore)
	for _, v := range envOrig.Vars() {
		if got, ok := envAfter.Lookup(v.Key); !ok || got != v.Value {
			t.Errorf(".env %s not restored", v.Key)
		}
	}
}

func hasMember(doc *hermes.Object, k string) bool {
	_, ok := doc.Get(k)
	return ok
}

// TestScrubCopies: copies are listed and left alone by default; with
// --scrub-copies --yes they are deleted, and nothing else is.
func TestScrubCopies(t *testing.T) {
	root := copyTree(t, filepath.Join("..", "..", "broker", "hermes", "testdata", "home"))
	env := map[string]string{"HERMES_HOME": root, "HERMES_KEYS_BACKEND": "file", "HERMES_KEYS_PASSPHRASE": testPassphrase, "HERMES_KEYS_TEST_SCRYPT": "10", "HOME": filepath.Dir(root)}
	corrupt := filepath.Join(root, "auth.json.corrupt")
	snap := filepath.Join(root, "state-snapshots", "20260719-120000", "auth.json")
	code, out, _ := runCLI(t, env, "", "migrate", "--yes")
	if code != 0 || !strings.Contains(out, "plaintext copy left alone: "+corrupt) {
		t.Fatalf("migrate: %d\n%s", code, out)
	}
	if _, err := os.Stat(corrupt); err != nil {
		t.Fatal("a copy was removed without --scrub-copies")
	}
	if code, _, errOut := runCLI(t, env, "", "migrate", "--scrub-copies"); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("without a terminal or --yes: %d %s", code, errOut)
	}
	code, _, errOut := runCLI(t, env, "", "migrate", "--yes", "--scrub-copies")
	if code != 0 {
		t.Fatalf("scrub: %d %s", code, errOut)
	}
	for _, p := range []string{corrupt, snap} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "auth.json")); err != nil {
		t.Fatal("scrub removed the store itself")
	}
}
