package backends

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// A passphrase file whose read never finishes (a dead network mount) ends
// in ErrSlowPassphraseFile at the deadline, naming the file, with a hint.
func TestSlowPassphraseFile(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	readPassFile = func(path, what string) ([]byte, error) {
		<-release
		return []byte("canary-passphrase-never-shown"), nil
	}
	defer func() { readPassFile = readPassphraseFile }()

	start := time.Now()
	b, err := readPassphraseFileWithin("/mnt/dead/pass", "HERMES_KEYS_PASSPHRASE_FILE", 50*time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ErrSlowPassphraseFile) || b != nil {
		t.Fatalf("got %q, %v; want ErrSlowPassphraseFile", b, err)
	}
	if took > 5*time.Second {
		t.Fatalf("returned after %s, the deadline was 50ms", took)
	}
	msg := err.Error() + xerr.Hint(err)
	if !strings.Contains(err.Error(), "/mnt/dead/pass") || xerr.Hint(err) == "" || strings.Contains(msg, "canary") {
		t.Fatalf("message %q, hint %q: want the file named, a hint, no content", err, xerr.Hint(err))
	}
}
