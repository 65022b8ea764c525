package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/hermestest"
)

// TestConcurrentHermesRotation: a Hermes stand-in (Python, fcntl.flock,
// temp file + rename) rotates the openai-codex and nous pairs 20 times a
// second for 30 s while migrate, seal and unmigrate run over and over.
// Afterwards the newest pair it wrote is the one Hermes gets back, and it
// never found an older pair where it had written a newer one.
func TestConcurrentHermesRotation(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fcntl.flock is POSIX")
	}
	if testing.Short() {
		t.Skip("30 s run; not in -short")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for the Hermes stand-in")
	}
	bin := buildBinary(t)
	root := filepath.Join(t.TempDir(), ".hermes")
	os.MkdirAll(root, 0o700)
	os.WriteFile(filepath.Join(root, "auth.json"), []byte(`{
  "version": 1,
  "providers": {
    "openai-codex": {"tokens": {"access_token": "CANARY-codex-access-0000", "refresh_token": "CANARY-codex-refresh-0000"}, "auth_mode": "chatgpt"},
    "nous": {"access_token": "CANARY-nous-access-0000", "refresh_token": "CANARY-nous-refresh-0000", "client_id": "hermes-cli"}
  },
  "active_provider": "nous"
}`), 0o600)
	env := append(os.Environ(), "HERMES_HOME="+root, "HERMES_KEYS_BACKEND=file",
		"HERMES_KEYS_PASSPHRASE="+testPassphrase, "HERMES_KEYS_TEST_SCRYPT=10", "DBUS_SESSION_BUS_ADDRESS=")
	hk := func(args ...string) {
		c := exec.Command(bin, args...)
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		} else if strings.Contains(string(out), "CANARY") {
			t.Errorf("%v printed a secret", args)
		}
	}
	logPath := filepath.Join(t.TempDir(), "rotations.log")
	rot := exec.Command(py, hermestest.Script(), "rotate", "--home", root, "--log", logPath, "--rate", "20", "--seconds", "30")
	rot.Env = env
	rotOut := &strings.Builder{}
	rot.Stdout, rot.Stderr = rotOut, rotOut
	if err := rot.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rot.Wait() }()
	cycles := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
loop:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("rotator: %v\n%s", err, rotOut)
			}
			break loop
		case <-ctx.Done():
			t.Fatal("rotator did not finish")
		default:
		}
		hk("migrate", "--yes")
		hk("unmigrate", "--yes")
		hk("seal")
		hk("unmigrate", "--yes")
		cycles++
	}
	hk("unmigrate", "--yes")

	latest := map[string]int{}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "REGRESSION") {
			t.Errorf("an older pair replaced a newer one: %s", line)
			continue
		}
		prov, n, _ := strings.Cut(line, " ")
		v, _ := strconv.Atoi(n)
		latest[prov] = max(latest[prov], v)
	}
	f.Close()
	if latest["openai-codex"] < 10 || latest["nous"] < 10 {
		t.Fatalf("too few rotations to mean anything: %v", latest)
	}
	var store struct {
		Providers map[string]json.RawMessage `json:"providers"`
	}
	b, _ := os.ReadFile(filepath.Join(root, "auth.json"))
	if err := json.Unmarshal(b, &store); err != nil {
		t.Fatal(err)
	}
	for prov, want := range map[string]string{
		"openai-codex": "CANARY-codex-refresh-" + pad(latest["openai-codex"]),
		"nous":         "CANARY-nous-refresh-" + pad(latest["nous"]),
	} {
		if !strings.Contains(string(store.Providers[prov]), `"`+want+`"`) {
			t.Errorf("%s: newest pair %s is not what Hermes gets back: %s", prov, want, redactSeq(store.Providers[prov]))
		}
	}
	t.Logf("%d cycles of migrate/unmigrate/seal/unmigrate; rotations: %v", cycles, latest)
}

func pad(n int) string { s := strconv.Itoa(n); return strings.Repeat("0", max(0, 4-len(s))) + s }

// redactSeq shows only the sequence numbers of the canary tokens.
func redactSeq(b []byte) string {
	var out []string
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '"' }) {
		if strings.HasPrefix(f, "CANARY-") {
			out = append(out, f[strings.LastIndexByte(f, '-')+1:])
		}
	}
	return strings.Join(out, ",")
}
