package hermes

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
)

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	name, args := "true", []string{}
	if runtime.GOOS == "windows" {
		name, args = "cmd", []string{"/c", "exit"}
	}
	c := exec.Command(name, args...)
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

// Our temp names are told apart from every name Hermes 0.19.0 gives its
// own temp files (auth.py: <name>.tmp.<pid>.<uuid hex>; config.py and
// env_loader.py: mkstemp .env_*.tmp; later writers: .auth_*.tmp), and
// ScanCopies still lists ours.
func TestParseOwnTemp(t *testing.T) {
	for _, base := range []string{AuthFile, EnvFileName, AnthropicOAuthFile, SharedNousFile} {
		n := tempName(base)
		b, pid, ok := ParseOwnTemp(n)
		if !ok || b != base || pid != os.Getpid() {
			t.Errorf("%s: ParseOwnTemp(%s) = %q %d %v", base, n, b, pid, ok)
		}
	}
	hermesNames := []string{
		"auth.json.tmp.4242.0123456789abcdef0123456789abcdef",
		".anthropic_oauth.json.tmp.4242.0123456789abcdef0123456789abcdef",
		"nous_auth.json.tmp.4242.0123456789abcdef0123456789abcdef",
		".env_k2j4_x9q.tmp",
		".env_hermes-k.tmp",
		".auth_abc123.tmp",
		"auth.json",
		"auth.json.tmp.hermes-keys.12.short",
		"auth.json.tmp.hermes-keys.x.0123456789abcdef0123456789abcdef",
	}
	for _, n := range hermesNames {
		if _, _, ok := ParseOwnTemp(n); ok {
			t.Errorf("%s taken for ours", n)
		}
	}
}

func TestOwnTempsOnlyDeadWriters(t *testing.T) {
	dir := t.TempDir()
	dead := strconv.Itoa(deadPID(t))
	hex := "0123456789abcdef0123456789abcdef"
	names := map[string]bool{
		"auth.json.tmp.hermes-keys." + dead + "." + hex:                       true,
		".env_hermes-keys." + dead + "." + hex + ".tmp":                       true,
		"auth.json.tmp.hermes-keys." + strconv.Itoa(os.Getpid()) + "." + hex:  false, // this process: may be mid-write
		"auth.json.tmp.hermes-keys." + strconv.Itoa(os.Getppid()) + "." + hex: false, // a live process
		"auth.json.tmp." + dead + "." + hex:                                   false, // Hermes's
		".env_abcd1234.tmp":                                                   false,
	}
	for n := range names {
		os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o600)
	}
	got, err := OwnTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths, want []string
	for _, o := range got {
		paths = append(paths, filepath.Base(o.Path))
	}
	for n, ok := range names {
		if ok {
			want = append(want, n)
		}
	}
	sort.Strings(paths)
	sort.Strings(want)
	if len(paths) != len(want) || paths[0] != want[0] || paths[1] != want[1] {
		t.Fatalf("OwnTemps = %v, want %v", paths, want)
	}
}
