package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// Canaries: values that must never reach doctor's output.
const (
	doctorPassCanary  = "CANARY-doctor-passphrase-7f3a"
	doctorAuthCanary  = "CANARY-doctor-auth-refresh-9c1d"
	doctorEnvCanary   = "CANARY-doctor-env-key-5e2b"
	doctorVaultCanary = "CANARY-cli-1" // what fileVault seals
)

var doctorCheckNames = []string{"dbus", "backend", "vault", "passphrase", "daemon", "linger", "plaintext", "secrets-command", "profiles"}

// doctorJSON runs `doctor --json` and returns the exit code and the checks
// by name, after asserting the array's shape and that no canary leaked.
func doctorJSON(t *testing.T, env map[string]string, args ...string) (int, map[string]doctorCheck, string) {
	t.Helper()
	code, out, errOut := runCLI(t, env, "", append([]string{"doctor", "--json"}, args...)...)
	for _, c := range []string{doctorPassCanary, doctorAuthCanary, doctorEnvCanary, doctorVaultCanary, "AGE-SECRET-KEY"} {
		if strings.Contains(out+errOut, c) {
			t.Fatalf("doctor printed a secret (%s):\n%s\n%s", c, out, errOut)
		}
	}
	var list []map[string]string
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("not a JSON array: %v\n%s\nstderr: %s", err, out, errOut)
	}
	got := map[string]doctorCheck{}
	var names []string
	for _, m := range list {
		if len(m) != 4 {
			t.Fatalf("check %v: want exactly check, status, detail, hint", m)
		}
		c := doctorCheck{Check: m["check"], Status: m["status"], Detail: m["detail"], Hint: m["hint"]}
		if c.Status != checkOK && c.Status != checkWarn && c.Status != checkFail {
			t.Fatalf("check %s: status %q", c.Check, c.Status)
		}
		if c.Detail == "" || strings.Contains(c.Detail, "\n") {
			t.Fatalf("check %s: detail must be one non-empty line: %q", c.Check, c.Detail)
		}
		if c.Status != checkOK && c.Hint == "" && c.Check != "secrets-command" {
			t.Errorf("check %s is %s without a hint: %s", c.Check, c.Status, c.Detail)
		}
		got[c.Check] = c
		names = append(names, c.Check)
	}
	if !slices.Equal(names, doctorCheckNames) {
		t.Fatalf("checks %v, want %v in that order", names, doctorCheckNames)
	}
	failed := false
	for _, c := range got {
		failed = failed || c.Status == checkFail
	}
	if want := map[bool]int{false: 0, true: xerr.ExitFailed}[failed]; code != want {
		t.Fatalf("exit %d with failed=%v, want %d; stderr: %s", code, failed, want, errOut)
	}
	return code, got, errOut
}

// doctorEnvFor is a Hermes root with no session bus, no daemon and no
// passphrase source: the environment of a fresh server account.
func doctorEnvFor(t *testing.T) map[string]string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, ".hermes")
	rt := filepath.Join(base, "run")
	for _, d := range []string{root, rt} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{"HERMES_HOME": root, "HOME": base, "XDG_RUNTIME_DIR": rt, "USER": "hermes",
		"PATH": filepath.Join(base, "nobin"), "HERMES_KEYS_TEST_SCRYPT": "10"}
}

// fileVaultNoPass is fileVault without its passphrase, and with a runtime
// directory of its own (no session bus there, no daemon).
func fileVaultNoPass(t *testing.T) (map[string]string, string) {
	t.Helper()
	env, dir := fileVault(t)
	delete(env, "HERMES_KEYS_PASSPHRASE")
	rt := filepath.Join(filepath.Dir(filepath.Dir(dir)), "run")
	if err := os.MkdirAll(rt, 0o700); err != nil {
		t.Fatal(err)
	}
	env["XDG_RUNTIME_DIR"], env["USER"], env["PATH"] = rt, "hermes", filepath.Join(rt, "nobin")
	env["HOME"] = filepath.Dir(filepath.Dir(dir))
	return env, dir
}

func writeDoctorFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// TestDoctorNoBus: with no session bus, unset or dead, the dbus check fails
// (auto needs one) within milliseconds, and names --backend file; with a
// file vault the missing bus is not a problem.
func TestDoctorNoBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: only Linux keychains use D-Bus")
	}
	for _, tc := range []struct {
		name   string
		bus    func(env map[string]string)
		detail string
	}{
		{"unset", func(env map[string]string) {}, "DBUS_SESSION_BUS_ADDRESS unset"},
		{"empty", func(env map[string]string) { env["DBUS_SESSION_BUS_ADDRESS"] = "" }, "DBUS_SESSION_BUS_ADDRESS unset"},
		{"dead socket", func(env map[string]string) {
			env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + filepath.Join(env["XDG_RUNTIME_DIR"], "dead.sock")
		}, "dead.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := doctorEnvFor(t)
			tc.bus(env)
			start := time.Now()
			_, got, _ := doctorJSON(t, env)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("doctor took %s with no bus", d)
			}
			bus := got["dbus"]
			if bus.Status != checkFail || !strings.Contains(bus.Detail, "no D-Bus session bus") || !strings.Contains(bus.Detail, tc.detail) {
				t.Errorf("dbus: %+v", bus)
			}
			if !strings.Contains(bus.Hint, "--backend file") {
				t.Errorf("dbus hint does not name --backend file: %q", bus.Hint)
			}
			if b := got["backend"]; b.Status != checkFail || b.Detail != "no keychain: no D-Bus session bus" || !strings.Contains(b.Hint, "--backend file") {
				t.Errorf("backend: %+v", b)
			}
			// The text form says the same, with a hint line.
			code, out, errOut := runCLI(t, env, "", "doctor")
			if code != xerr.ExitFailed || !strings.Contains(out, "fail  dbus") || !strings.Contains(out, "hint: ") || !strings.Contains(errOut, "checks failed") {
				t.Errorf("text: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	t.Run("file vault needs no bus", func(t *testing.T) {
		env, _ := fileVault(t)
		env["XDG_RUNTIME_DIR"] = t.TempDir()
		_, got, _ := doctorJSON(t, env)
		if bus := got["dbus"]; bus.Status != checkOK || !strings.Contains(bus.Detail, "not needed by the file backend") {
			t.Errorf("dbus: %+v", bus)
		}
	})
}

// TestDoctorHungBus: something accepts on the bus socket and never
// answers: the check fails by its deadline instead of hanging doctor.
func TestDoctorHungBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: only Linux keychains use D-Bus")
	}
	env := doctorEnvFor(t)
	dir, err := os.MkdirTemp("", "hkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + sock
	start := time.Now()
	_, got, _ := doctorJSON(t, env, "--timeout", "200ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("doctor took %s with a 200ms timeout", d)
	}
	if bus := got["dbus"]; bus.Status != checkFail || !strings.Contains(bus.Hint, "--backend file") {
		t.Errorf("dbus: %+v", bus)
	}
}

// TestDoctorPassphraseSources: a passphrase file or credential that group
// or other can read fails; a missing or empty one fails; a private one is
// ok; the passphrase itself is never printed.
func TestDoctorPassphraseSources(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SKIPPED: no mode bits on Windows")
	}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, env map[string]string)
		status string
		detail string
		hint   string
	}{
		{"group-readable file", func(t *testing.T, env map[string]string) {
			p := filepath.Join(env["HOME"], "pass")
			writeDoctorFile(t, p, doctorPassCanary+"\n", 0o640)
			env["HERMES_KEYS_PASSPHRASE_FILE"] = p
		}, checkFail, "mode 0640", "chmod 600"},
		{"world-readable credential", func(t *testing.T, env map[string]string) {
			d := filepath.Join(env["HOME"], "creds")
			writeDoctorFile(t, filepath.Join(d, "hermes-keys-passphrase"), doctorPassCanary, 0o604)
			env["CREDENTIALS_DIRECTORY"] = d
		}, checkFail, "systemd credential hermes-keys-passphrase", "chmod 600"},
		{"missing file", func(t *testing.T, env map[string]string) {
			env["HERMES_KEYS_PASSPHRASE_FILE"] = filepath.Join(env["HOME"], "nope")
		}, checkFail, "cannot be read", "existing 0600 file"},
		{"empty file", func(t *testing.T, env map[string]string) {
			p := filepath.Join(env["HOME"], "pass")
			writeDoctorFile(t, p, "", 0o600)
			env["HERMES_KEYS_PASSPHRASE_FILE"] = p
		}, checkFail, "is empty", "write the passphrase"},
		{"private file and credential", func(t *testing.T, env map[string]string) {
			p := filepath.Join(env["HOME"], "pass")
			writeDoctorFile(t, p, doctorPassCanary, 0o600)
			env["HERMES_KEYS_PASSPHRASE_FILE"] = p
			d := filepath.Join(env["HOME"], "creds")
			writeDoctorFile(t, filepath.Join(d, "hermes-keys-passphrase"), doctorPassCanary, 0o400)
			env["CREDENTIALS_DIRECTORY"] = d
		}, checkOK, "private: HERMES_KEYS_PASSPHRASE_FILE", ""},
		{"passphrase in the environment", func(t *testing.T, env map[string]string) {
			env["HERMES_KEYS_PASSPHRASE"] = doctorPassCanary
		}, checkWarn, "HERMES_KEYS_PASSPHRASE is set", "HERMES_KEYS_PASSPHRASE_FILE"},
		{"none", func(t *testing.T, env map[string]string) {}, checkOK, "no passphrase file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := doctorEnvFor(t)
			tc.setup(t, env)
			_, got, _ := doctorJSON(t, env)
			c := got["passphrase"]
			if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Hint, tc.hint) {
				t.Errorf("passphrase: got %+v, want %s with %q and hint %q", c, tc.status, tc.detail, tc.hint)
			}
		})
	}
}

// TestDoctorDaemon: no daemon (no socket, or a stale one) is a warning
// with a remedy; a daemon of this vault is ok, one of another vault warns.
func TestDoctorDaemon(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("SKIPPED: the broker daemon runs on Linux and macOS")
	}
	t.Run("no socket", func(t *testing.T) {
		env := doctorEnvFor(t)
		_, got, _ := doctorJSON(t, env)
		c := got["daemon"]
		if c.Status != checkWarn || !strings.Contains(c.Detail, "not running") || !strings.Contains(c.Hint, "hermes-keys serve") {
			t.Errorf("daemon: %+v", c)
		}
	})
	t.Run("stale socket", func(t *testing.T) {
		env := doctorEnvFor(t)
		dir := doctorSockDir(t)
		sock := filepath.Join(dir, "broker.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		env["HERMES_KEYS_SOCKET"] = sock
		_, got, _ := doctorJSON(t, env)
		c := got["daemon"]
		if c.Status != checkWarn || !strings.Contains(c.Detail, "nothing answers") || !strings.Contains(c.Hint, "hermes-keys serve") {
			t.Errorf("daemon: %+v", c)
		}
	})
	t.Run("running", func(t *testing.T) {
		env, dir := fileVaultNoPass(t)
		other, otherDir := fileVaultNoPass(t)
		sock := filepath.Join(doctorSockDir(t), "broker.sock")
		env["HERMES_KEYS_SOCKET"], other["HERMES_KEYS_SOCKET"] = sock, sock
		srv, err := daemon.Listen(daemon.Options{Dir: dir, Socket: sock})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() { srv.Serve(ctx); close(served) }()
		t.Cleanup(func() { cancel(); <-served })

		_, got, _ := doctorJSON(t, env)
		if c := got["daemon"]; c.Status != checkOK || !strings.Contains(c.Detail, "running on "+sock) || !strings.Contains(c.Detail, "locked") {
			t.Errorf("daemon: %+v", c)
		}
		// Locked daemon, no passphrase here: the vault is locked.
		if c := got["vault"]; c.Status != checkFail || !strings.HasPrefix(c.Detail, "locked:") {
			t.Errorf("vault with a locked daemon: %+v", c)
		}
		_, got, _ = doctorJSON(t, other)
		if c := got["daemon"]; c.Status != checkWarn || !strings.Contains(c.Detail, "another vault") {
			t.Errorf("daemon of another vault (%s): %+v", otherDir, c)
		}
	})
}

// doctorSockDir is a directory for sockets, whose paths must stay short.
func doctorSockDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestDoctorVault: none warns; a file vault with no passphrase source and
// no terminal is locked (fail); with its passphrase it is present (ok, and
// exit 0 when nothing else fails); a wrong passphrase fails.
func TestDoctorVault(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		_, got, _ := doctorJSON(t, doctorEnvFor(t))
		if c := got["vault"]; c.Status != checkWarn || !strings.HasPrefix(c.Detail, "none in ") || !strings.Contains(c.Hint, "hermes-keys migrate") {
			t.Errorf("vault: %+v", c)
		}
	})
	t.Run("file backend, no passphrase: locked", func(t *testing.T) {
		env, _ := fileVaultNoPass(t)
		code, got, errOut := doctorJSON(t, env)
		c := got["vault"]
		if c.Status != checkFail || !strings.HasPrefix(c.Detail, "locked: ") || !strings.Contains(c.Detail, "backend file") ||
			!strings.Contains(c.Hint, "HERMES_KEYS_PASSPHRASE_FILE") {
			t.Errorf("vault: %+v", c)
		}
		if code != xerr.ExitFailed || !strings.Contains(errOut, "1 of 9 checks failed") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		if b := got["backend"]; b.Status != checkWarn {
			t.Errorf("backend: %+v", b)
		}
	})
	t.Run("file backend, passphrase file: present, exit 0", func(t *testing.T) {
		env, _ := fileVaultNoPass(t)
		p := filepath.Join(env["HOME"], "pass")
		writeDoctorFile(t, p, testPassphrase+"\n", 0o600)
		env["HERMES_KEYS_PASSPHRASE_FILE"] = p
		code, got, _ := doctorJSON(t, env)
		if c := got["vault"]; c.Status != checkOK || !strings.HasPrefix(c.Detail, "present: ") || !strings.Contains(c.Detail, "HERMES_KEYS_PASSPHRASE_FILE") {
			t.Errorf("vault: %+v", c)
		}
		if code != 0 {
			t.Errorf("exit %d with %+v", code, got)
		}
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		env, _ := fileVaultNoPass(t)
		p := filepath.Join(env["HOME"], "pass")
		writeDoctorFile(t, p, doctorPassCanary, 0o600)
		env["HERMES_KEYS_PASSPHRASE_FILE"] = p
		_, got, _ := doctorJSON(t, env)
		if c := got["vault"]; c.Status != checkFail || !strings.Contains(c.Detail, "wrong passphrase") {
			t.Errorf("vault: %+v", c)
		}
	})
	t.Run("kernel keyring cache", func(t *testing.T) {
		if !daemon.KeyringSupported {
			t.Skip("SKIPPED: no kernel keyring here")
		}
		env, dir := fileVaultNoPass(t)
		with := map[string]string{}
		for k, v := range env {
			with[k] = v
		}
		with["HERMES_KEYS_PASSPHRASE"] = testPassphrase
		meta, err := broker.LoadMeta(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { daemon.ForgetCachedIdentity(meta.ID) })
		if code, _, errOut := runCLI(t, with, "", "unlock", "--ttl", "1m"); code != 0 {
			t.Skipf("SKIPPED: unlock cannot use the kernel keyring here: %s", errOut)
		}
		_, got, _ := doctorJSON(t, env)
		if c := got["vault"]; c.Status != checkOK || !strings.Contains(c.Detail, "kernel keyring") {
			t.Errorf("vault: %+v", c)
		}
	})
}

// TestDoctorPlaintextAndSecretsCommand: plaintext left in auth.json and
// .env warns (counts and paths only); sealed .env keys without a
// secrets.command warn, with one configured they are ok.
func TestDoctorPlaintextAndSecretsCommand(t *testing.T) {
	env, dir := fileVaultNoPass(t)
	root := filepath.Dir(dir)
	env["HERMES_KEYS_PASSPHRASE"] = testPassphrase
	_, got, _ := doctorJSON(t, env)
	if c := got["plaintext"]; c.Status != checkOK {
		t.Errorf("plaintext, clean: %+v", c)
	}
	if c := got["secrets-command"]; c.Status != checkOK || !strings.Contains(c.Detail, "no .env keys sealed") {
		t.Errorf("secrets-command, no env records: %+v", c)
	}

	writeDoctorFile(t, filepath.Join(root, "auth.json"), `{"version":1,"providers":{"nous":{"refresh_token":"`+doctorAuthCanary+`"}}}`, 0o600)
	writeDoctorFile(t, filepath.Join(root, ".env"), "OPENROUTER_API_KEY="+doctorEnvCanary+"\n", 0o600)
	_, got, _ = doctorJSON(t, env)
	if c := got["plaintext"]; c.Status != checkWarn || !strings.Contains(c.Detail, "2 secret field(s) in plaintext in 2 file(s)") || !strings.Contains(c.Hint, "hermes-keys migrate") {
		t.Errorf("plaintext: %+v", c)
	}

	if code, _, errOut := runCLI(t, env, doctorEnvCanary+"\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	_, got, _ = doctorJSON(t, env)
	if c := got["secrets-command"]; c.Status != checkWarn || !strings.Contains(c.Detail, "1 .env key(s) sealed") || !strings.Contains(c.Hint, "hermes-keys env") {
		t.Errorf("secrets-command, not configured: %+v", c)
	}
	writeDoctorFile(t, filepath.Join(root, "config.yaml"), "# command: hermes-keys env\nsecrets:\n  command:\n    enabled: true\n    command: \"hermes-keys env\"  # sealed keys\n", 0o600)
	_, got, _ = doctorJSON(t, env)
	if c := got["secrets-command"]; c.Status != checkOK || !strings.Contains(c.Detail, "config.yaml runs `hermes-keys env`") {
		t.Errorf("secrets-command, configured: %+v", c)
	}
}

func TestUsesEnvCommand(t *testing.T) {
	for in, want := range map[string]bool{
		"secrets:\n  command:\n    command: \"hermes-keys env\"\n":            true,
		"secrets:\n  command:\n    command: hermes-keys --profile work env\n": true,
		"    command: '/home/h/.local/bin/hermes-keys env'":                   true,
		"# command: hermes-keys env\n":                                        false,
		"    command: hermes-keys get env:X\n":                                false,
		"    command: other-tool env  # not hermes-keys env\n":                false,
		"": false,
	} {
		if got := usesEnvCommand([]byte(in)); got != want {
			t.Errorf("usesEnvCommand(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestDoctorLinger: under systemd on Linux, a server without linger warns
// with the enable-linger remedy; with it, ok; without loginctl and a flag
// file, "cannot tell". loginctl is a stand-in on the injected PATH.
func TestDoctorLinger(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: linger is systemd's")
	}
	oldRun, oldLinger := systemdRunDir, lingerDir
	t.Cleanup(func() { systemdRunDir, lingerDir = oldRun, oldLinger })
	systemdRunDir, lingerDir = t.TempDir(), t.TempDir()

	loginctl := func(t *testing.T, env map[string]string, script string) {
		bin := filepath.Join(env["HOME"], "bin")
		writeDoctorFile(t, filepath.Join(bin, "loginctl"), "#!/bin/sh\n"+script+"\n", 0o755)
		env["PATH"] = bin + ":/usr/bin:/bin"
	}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, env map[string]string)
		status string
		detail string
	}{
		{"loginctl says no", func(t *testing.T, env map[string]string) {
			loginctl(t, env, `[ "$1 $2 $3 $4" = "show-user hermes -p Linger" ] && echo Linger=no`)
		}, checkWarn, "not enabled for hermes"},
		{"loginctl says yes", func(t *testing.T, env map[string]string) { loginctl(t, env, "echo Linger=yes") }, checkOK, "enabled for hermes"},
		{"not logged in or lingering", func(t *testing.T, env map[string]string) {
			loginctl(t, env, "echo 'Failed to get user: User ID 1001 is not logged in or lingering' >&2; exit 1")
		}, checkWarn, "not enabled for hermes"},
		{"loginctl hangs", func(t *testing.T, env map[string]string) { loginctl(t, env, "exec sleep 30") }, checkWarn, "cannot tell"},
		{"no loginctl, no flag file", func(t *testing.T, env map[string]string) {}, checkWarn, "cannot tell whether linger is enabled for hermes: loginctl not found"},
		{"no loginctl, flag file", func(t *testing.T, env map[string]string) {
			writeDoctorFile(t, filepath.Join(lingerDir, "hermes"), "", 0o644)
			t.Cleanup(func() { os.Remove(filepath.Join(lingerDir, "hermes")) })
		}, checkOK, "enabled for hermes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := doctorEnvFor(t) // no bus: a server
			tc.setup(t, env)
			start := time.Now()
			_, got, _ := doctorJSON(t, env, "--timeout", "500ms")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			c := got["linger"]
			if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("linger: got %+v, want %s with %q", c, tc.status, tc.detail)
			}
			if c.Status == checkWarn && !strings.Contains(c.Hint, "loginctl enable-linger hermes") {
				t.Errorf("linger hint: %q", c.Hint)
			}
		})
	}
	t.Run("desktop", func(t *testing.T) {
		env := doctorEnvFor(t)
		systemdRunDir = filepath.Join(env["HOME"], "no-systemd")
		_, got, _ := doctorJSON(t, env)
		if c := got["linger"]; c.Status != checkOK || !strings.Contains(c.Detail, "not applicable") {
			t.Errorf("linger without systemd: %+v", c)
		}
	})
}
