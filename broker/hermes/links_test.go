//go:build unix

package hermes

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/safefs"
)

// A secret document that is a symbolic link is followed only to a file of
// the caller's (issue 10 item 3): reading, replacing and the .env writer
// all refuse a link to another user's file, and leave it as it was.
func TestDocumentLinkToAnothersFileRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root: a file of another uid needs chown")
		}
		t.Skip("SKIPPED: a file of another uid needs root to make")
	}
	home := tempDir(t)
	victim := tempDir(t)
	const content = `{"providers": {"nous": {"refresh_token": "CANARY-victim"}}}`
	theirs := filepath.Join(victim, "auth.json")
	os.WriteFile(theirs, []byte(content), 0o600)
	theirEnv := filepath.Join(victim, ".env")
	os.WriteFile(theirEnv, []byte("OPENROUTER_API_KEY=CANARY-victim\n"), 0o600)
	for _, p := range []string{victim, theirs, theirEnv} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(theirs, filepath.Join(home, "auth.json"))
	os.Symlink(theirEnv, filepath.Join(home, ".env"))
	os.Symlink(filepath.Join(victim, "new.json"), filepath.Join(home, AnthropicOAuthFile))

	if _, err := ReadDoc(filepath.Join(home, "auth.json")); !errors.Is(err, safefs.ErrForeignOwner) {
		t.Errorf("ReadDoc through the link: %v", err)
	}
	if _, err := ReadEnvFile(filepath.Join(home, ".env")); !errors.Is(err, safefs.ErrForeignOwner) {
		t.Errorf("ReadEnvFile through the link: %v", err)
	}
	if err := WriteFile(filepath.Join(home, "auth.json"), []byte(`{}`)); !errors.Is(err, safefs.ErrForeignOwner) {
		t.Errorf("WriteFile through the link: %v", err)
	}
	if err := WriteEnvFile(filepath.Join(home, ".env"), ParseEnv([]byte("A=b\n"))); !errors.Is(err, safefs.ErrForeignOwner) {
		t.Errorf("WriteEnvFile through the link: %v", err)
	}
	if err := WriteFile(filepath.Join(home, AnthropicOAuthFile), []byte(`{}`)); !errors.Is(err, safefs.ErrForeignOwner) {
		t.Errorf("WriteFile through a dangling link into another's directory: %v", err)
	}
	if b, _ := os.ReadFile(theirs); string(b) != content {
		t.Errorf("their auth.json changed: %s", b)
	}
	if b, _ := os.ReadFile(theirEnv); string(b) != "OPENROUTER_API_KEY=CANARY-victim\n" {
		t.Errorf("their .env changed: %s", b)
	}
	if _, err := os.Lstat(filepath.Join(victim, "new.json")); err == nil {
		t.Error("a file was created in their directory")
	}
	// A link to a file of one's own is followed, as before.
	mine := filepath.Join(tempDir(t), "auth.json")
	os.WriteFile(mine, []byte(`{}`), 0o600)
	os.Remove(filepath.Join(home, "auth.json"))
	os.Symlink(mine, filepath.Join(home, "auth.json"))
	if err := WriteFile(filepath.Join(home, "auth.json"), []byte(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(mine); string(b) != `{"a": 1}` {
		t.Errorf("the link to our own file was not written through: %s", b)
	}
}
