package migrate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

func exitedPID(t *testing.T) string {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Skipf("no `true` to make a dead pid: %v", err)
	}
	return strconv.Itoa(c.Process.Pid)
}

// Leftovers of our writer are removed unless they hold a secret block that
// neither the real file nor the vault holds; Hermes's own temp files are
// never touched (issue 10 item 9).
func TestRemoveLeftovers(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "profiles", "work")
	os.MkdirAll(work, 0o700)
	h := hermes.Home{Root: root, Dir: root, SharedDir: filepath.Join(root, "shared")}
	w := hermes.Home{Root: root, Dir: work, Profile: "work", SharedDir: h.SharedDir}
	pid := exitedPID(t)
	hex := "0123456789abcdef0123456789abcdef"
	ours := func(dir, base string) string {
		if base == ".env" {
			return filepath.Join(dir, ".env_hermes-keys."+pid+"."+hex+".tmp")
		}
		return filepath.Join(dir, base+".tmp.hermes-keys."+pid+"."+hex)
	}
	codex := `{"version":1,"providers":{"openai-codex":{"tokens":{"access_token":"CANARY-a","refresh_token":"CANARY-r"}}}}`
	// The root's materialise temp: the block is in the vault.
	sealed := ours(root, "auth.json")
	os.WriteFile(sealed, []byte(codex), 0o600)
	// The profile's: the block is in the live file.
	os.WriteFile(filepath.Join(work, "auth.json"), []byte(codex), 0o600)
	inFile := ours(work, "auth.json")
	os.WriteFile(inFile, []byte(codex), 0o600)
	// A truncated one.
	truncated := ours(root, ".anthropic_oauth.json")
	os.WriteFile(truncated, []byte(`{"accessToken": "CANARY-x`), 0o600)
	// One holding a block found nowhere else.
	unique := ours(work, ".env")
	os.WriteFile(unique, []byte("OPENROUTER_API_KEY=CANARY-only-here\n"), 0o600)
	// Hermes's own, whoever wrote them.
	hermesOwn := []string{
		filepath.Join(root, "auth.json.tmp."+pid+"."+hex),
		filepath.Join(root, ".env_x1y2z3ab.tmp"),
		filepath.Join(work, ".auth_q1.tmp"),
	}
	for _, p := range hermesOwn {
		os.WriteFile(p, []byte(codex), 0o600)
	}
	vault := map[string]bool{"providers/openai-codex": true}
	res, err := RemoveLeftovers([]hermes.Home{h, w}, func(k string) bool { return vault[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sealed, inFile, truncated} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s stayed", p)
		}
	}
	if len(res.Removed) != 3 {
		t.Errorf("removed %v", res.Removed)
	}
	if len(res.Kept) != 1 || res.Kept[0] != unique {
		t.Errorf("kept %v, want %s", res.Kept, unique)
	}
	for _, p := range append(hermesOwn, unique) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	// Once the vault holds the profile's env key, its leftover goes too.
	vault["profiles/work/env/OPENROUTER_API_KEY"] = true
	if res, _ := RemoveLeftovers([]hermes.Home{h, w}, func(k string) bool { return vault[k] }); len(res.Removed) != 1 || len(res.Kept) != 0 {
		t.Errorf("second pass: %+v", res)
	}
}
