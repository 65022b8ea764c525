//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/daemon"
	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// serveProc is a `hermes-keys serve` process.
type serveProc struct {
	cmd    *exec.Cmd
	sock   string
	log    *lockedBuilder
	exited chan struct{} // closed once cmd.Wait has returned
}

// start starts p.cmd and has it waited for in the background.
func (p *serveProc) start(t *testing.T) {
	t.Helper()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.exited
	})
}

func (p *serveProc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sockDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hks")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func envList(env map[string]string) []string {
	// No __pycache__ left in contrib/python by the Python client tests.
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PYTHONDONTWRITEBYTECODE=1"}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// waitAnswers waits until a daemon answers on sock (a liveness bound, not
// a timing assertion).
func waitAnswers(t *testing.T, sock string, p *serveProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := daemon.DialTimeout(sock, time.Second); err == nil {
			err = c.Ping(context.Background())
			c.Close()
			if err == nil {
				return
			}
		}
		if p.hasExited() {
			t.Fatalf("serve exited: %s", p.log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daemon answers on %s; log:\n%s", sock, p.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startServe runs `hermes-keys serve` with env and waits until it answers.
func startServe(t *testing.T, env map[string]string, args ...string) *serveProc {
	t.Helper()
	bin := buildBinary(t)
	p := &serveProc{sock: daemon.SocketPath(iox.MapEnv(env), env["HERMES_HOME"]), log: &lockedBuilder{}}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Env = envList(env)
	p.cmd.Stderr = p.log
	p.start(t)
	waitAnswers(t, p.sock, p)
	return p
}

func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("serve exited with %v:\n%s", p.cmd.ProcessState, p.log)
	}
}

func without(env map[string]string, keys ...string) map[string]string {
	out := maps.Clone(env)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// TestGetEnvUseTheDaemon: with a daemon running, get and env answer
// without any passphrase source (only the daemon can have answered); a
// locked daemon is passed over for the vault; unlock and lock work on it.
func TestGetEnvUseTheDaemon(t *testing.T) {
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(sockDir(t), "broker.sock")
	if code, _, errOut := runCLI(t, env, "CANARY-or-1\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatal(errOut)
	}
	p := startServe(t, env) // auto-unlocks with HERMES_KEYS_PASSPHRASE
	noPass := without(env, "HERMES_KEYS_PASSPHRASE")

	code, out, errOut := runCLI(t, noPass, "", "get", "nous.refresh_token")
	if code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get through the daemon: %d %q %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, noPass, "", "get", "nous", "--json")
	if code != 0 || !strings.Contains(out, `"refresh_token": "CANARY-cli-1"`) {
		t.Fatalf("get --json through the daemon: %d %q", code, out)
	}
	code, out, errOut = runCLI(t, noPass, "", "env")
	if code != 0 || out != "OPENROUTER_API_KEY=CANARY-or-1\n" {
		t.Fatalf("env through the daemon: %d %q %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, noPass, "", "get", "env:NOPE")
	if code != xerr.ExitNotFound || out != "" || !strings.Contains(errOut, "hint:") {
		t.Fatalf("missing through the daemon: %d %q %q", code, out, errOut)
	}
	// A put by the CLI (another process) is seen by the daemon's next get.
	if code, _, errOut := runCLI(t, env, "CANARY-or-2\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, _ := runCLI(t, noPass, "", "get", "env:OPENROUTER_API_KEY"); code != 0 || out != "CANARY-or-2\n" {
		t.Fatalf("get after a CLI put: %d %q", code, out)
	}

	// lock: the daemon forgets the key and stays locked; get falls back to
	// the vault, which without a passphrase is exit 4, with one works.
	code, _, errOut = runCLI(t, noPass, "", "lock")
	if code != 0 || !strings.Contains(errOut, "broker daemon forgot") {
		t.Fatalf("lock: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, noPass, "", "get", "nous.refresh_token"); code != xerr.ExitLocked {
		t.Fatalf("get with a locked daemon and no passphrase: %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, env, "", "get", "nous.refresh_token"); code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get falls back to the vault: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, noPass, "", "env"); code != xerr.ExitLocked {
		t.Fatalf("env with a locked daemon and no passphrase: %d", code)
	}

	// unlock hands the key (read with the passphrase) to the daemon.
	code, _, errOut = runCLI(t, env, "", "unlock", "--ttl", "1h")
	if code != 0 || !strings.Contains(errOut, "broker daemon holds the key") {
		t.Fatalf("unlock: %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, noPass, "", "get", "nous.refresh_token"); code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get after unlock: %d %q", code, out)
	}
	if strings.Contains(p.log.String(), "CANARY") || strings.Contains(p.log.String(), testPassphrase) {
		t.Fatalf("daemon log holds a secret:\n%s", p.log)
	}
	p.stop(t)
	if _, err := os.Lstat(p.sock); !os.IsNotExist(err) {
		t.Fatalf("socket left after SIGTERM: %v", err)
	}
	// No daemon: the vault is read directly, as before.
	if code, out, _ := runCLI(t, env, "", "get", "nous.refresh_token"); code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get without daemon: %d %q", code, out)
	}
}

// TestDaemonOfAnotherVaultIsPassedOver: a socket shared by two Hermes homes
// never serves one home's records to the other.
func TestDaemonOfAnotherVaultIsPassedOver(t *testing.T) {
	envA, _ := fileVault(t)
	envB, dirB := fileVault(t)
	sock := filepath.Join(sockDir(t), "broker.sock")
	envA["HERMES_KEYS_SOCKET"], envB["HERMES_KEYS_SOCKET"] = sock, sock
	startServe(t, envA)
	// Make B's record differ from A's.
	if code, _, errOut := runCLI(t, envB, `{"refresh_token":"CANARY-B"}`, "put", "nous"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := runCLI(t, envB, "", "get", "nous.refresh_token")
	if code != 0 || out != "CANARY-B\n" {
		t.Fatalf("vault B through A's socket: %d %q %s (dir %s)", code, out, errOut, dirB)
	}
	code, _, errOut = runCLI(t, envB, "", "lock")
	if code != 0 || !strings.Contains(errOut, "serves another vault") {
		t.Fatalf("lock of B: %d %s", code, errOut)
	}
}

func TestServeRefusesSecondDaemon(t *testing.T) {
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(sockDir(t), "broker.sock")
	startServe(t, env)
	code, _, errOut := runCLI(t, env, "", "serve")
	if code != xerr.ExitFailed || !strings.Contains(errOut, "already running") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("second serve: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, env, "", "serve", "--idle", "-1s"); code != xerr.ExitUsage {
		t.Fatalf("negative --idle: exit %d", code)
	}
}

// TestServeDefaultSocketPath: under $XDG_RUNTIME_DIR, in a 0700 directory,
// the socket 0600.
func TestServeDefaultSocketPath(t *testing.T) {
	env, _ := fileVault(t)
	rt := sockDir(t)
	env["XDG_RUNTIME_DIR"] = rt
	sock := filepath.Join(rt, "hermes-keys", "broker.sock")
	startServe(t, without(env, "HERMES_KEYS_SOCKET"))
	di, err := os.Stat(filepath.Dir(sock))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("socket dir: %v %v", di, err)
	}
	si, err := os.Lstat(sock)
	if err != nil || si.Mode()&os.ModeSocket == 0 || si.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", si, err)
	}
	if code, out, _ := runCLI(t, without(env, "HERMES_KEYS_PASSPHRASE"), "", "get", "nous.refresh_token"); code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get via the default socket: %d %q", code, out)
	}
}

// TestServeSocketActivation: systemd hands the listening socket as fd 3
// with LISTEN_FDS=1 and LISTEN_PID=<the daemon's pid>.
func TestServeSocketActivation(t *testing.T) {
	env, _ := fileVault(t)
	sock := filepath.Join(sockDir(t), "activated.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	lf, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	bin := buildBinary(t)
	p := &serveProc{sock: sock, log: &lockedBuilder{}}
	// No --socket and no HERMES_KEYS_SOCKET: the inherited socket is used.
	p.cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve`, bin)
	p.cmd.Env = envList(env)
	p.cmd.ExtraFiles = []*os.File{lf}
	p.cmd.Stderr = p.log
	p.start(t)
	lf.Close()
	waitAnswers(t, sock, p)
	cli := without(env, "HERMES_KEYS_PASSPHRASE")
	cli["HERMES_KEYS_SOCKET"] = sock
	if code, out, errOut := runCLI(t, cli, "", "get", "nous.refresh_token"); code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get from a socket-activated daemon: %d %q %s\n%s", code, out, errOut, p.log)
	}
	p.stop(t)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal("the daemon removed systemd's socket")
	}
}

// TestUnlockCachesInKernelKeyring: without a daemon, unlock keeps the key
// in the kernel user keyring; commands then need no passphrase; lock
// removes it.
func TestUnlockCachesInKernelKeyring(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: the kernel keyring cache is Linux only")
	}
	env, dir := fileVault(t)
	meta, err := broker.LoadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.ForgetCachedIdentity(meta.ID) })
	noPass := without(env, "HERMES_KEYS_PASSPHRASE")
	if code, _, _ := runCLI(t, noPass, "", "get", "nous.refresh_token"); code != xerr.ExitLocked {
		t.Fatalf("before unlock: exit %d", code)
	}
	if code, _, errOut := runCLI(t, noPass, "", "unlock"); code != xerr.ExitLocked || !strings.Contains(errOut, "hint:") {
		t.Fatalf("unlock without a passphrase: %d %s", code, errOut)
	}
	code, _, errOut := runCLI(t, env, "", "unlock", "--ttl", "10m")
	if code != 0 || !strings.Contains(errOut, "kernel user keyring") {
		t.Fatalf("unlock: %d %s", code, errOut)
	}
	if strings.Contains(errOut, "AGE-SECRET-KEY") {
		t.Fatal("unlock printed the key")
	}
	desc := daemon.KeyringDescription(meta.ID)
	if out, err := exec.Command("keyctl", "search", "@u", "user", desc).CombinedOutput(); err == nil {
		t.Logf("keyctl search @u user %s: %s", desc, out)
	}
	code, out, errOut := runCLI(t, noPass, "", "get", "nous.refresh_token")
	if code != 0 || out != "CANARY-cli-1\n" {
		t.Fatalf("get with the cached key: %d %q %s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, noPass, "", "env"); code != 0 || out != "" {
		t.Fatalf("env with the cached key: %d %q", code, out)
	}
	// Writes work with the cached key too.
	if code, _, errOut := runCLI(t, noPass, "CANARY-x\n", "put", "env:X"); code != 0 {
		t.Fatalf("put with the cached key: %s", errOut)
	}
	code, _, errOut = runCLI(t, noPass, "", "lock")
	if code != 0 || !strings.Contains(errOut, "removed the key") {
		t.Fatalf("lock: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, noPass, "", "get", "nous.refresh_token"); code != xerr.ExitLocked {
		t.Fatalf("after lock: exit %d", code)
	}
	if code, _, errOut := runCLI(t, noPass, "", "unlock", "--ttl", "0s"); code != xerr.ExitUsage {
		t.Fatalf("--ttl 0: %d %s", code, errOut)
	}
}

// TestPythonClient runs contrib/python/hermes_keys.py against a live daemon.
func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is missing in CI")
		}
		t.Skip("SKIPPED: python3 is not installed")
	}
	env, _ := fileVault(t)
	env["HERMES_KEYS_SOCKET"] = filepath.Join(sockDir(t), "broker.sock")
	if code, _, errOut := runCLI(t, env, "CANARY-or-py\n", "put", "env:OPENROUTER_API_KEY"); code != 0 {
		t.Fatal(errOut)
	}
	startServe(t, env)
	contrib, _ := filepath.Abs(filepath.Join("..", "..", "contrib", "python"))
	script := `
import json, os, sys
sys.path.insert(0, sys.argv[1])
import hermes_keys as hk
out = {}
with hk.Client(timeout=5) as c:
    out["path"] = c.path
    out["get"] = c.get("nous.refresh_token")
    out["block"] = c.get("nous")
    out["env"] = c.env()
    try:
        c.get("env:NOPE")
    except hk.NotFound as e:
        out["missing"] = [e.code, e.exit_code]
    g = c.put("env:PY_NEW", "CANARY-py-new", if_generation=0)
    out["put"] = g
    try:
        c.put("env:PY_NEW", "CANARY-py-other", if_generation=0)
    except hk.GenerationConflict as e:
        out["conflict"] = e.code
    v, gen = c.get_with_generation("env:PY_NEW")
    out["after_put"] = [v, gen]
    st = c.status()
    out["status_locked"] = st["locked"]
    out["status_has_value"] = "CANARY" in json.dumps(st)
print(json.dumps(out))
`
	cmd := exec.Command(py, "-c", script, contrib)
	cmd.Env = envList(without(env, "HERMES_KEYS_PASSPHRASE"))
	raw, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, raw)
	}
	var got struct {
		Path           string            `json:"path"`
		Get            string            `json:"get"`
		Block          map[string]string `json:"block"`
		Env            map[string]string `json:"env"`
		Missing        []any             `json:"missing"`
		Put            int               `json:"put"`
		Conflict       string            `json:"conflict"`
		AfterPut       []any             `json:"after_put"`
		StatusLocked   bool              `json:"status_locked"`
		StatusHasValue bool              `json:"status_has_value"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	want := fmt.Sprint(env["HERMES_KEYS_SOCKET"], " CANARY-cli-1 CANARY-cli-1 CANARY-or-py [not_found 3] 1 generation [CANARY-py-new 1] false false")
	have := fmt.Sprint(got.Path, " ", got.Get, " ", got.Block["refresh_token"], " ", got.Env["OPENROUTER_API_KEY"], " ", got.Missing, " ",
		got.Put, " ", got.Conflict, " ", got.AfterPut, " ", got.StatusLocked, " ", got.StatusHasValue)
	if have != want {
		t.Fatalf("python client:\nhave %s\nwant %s\n%s", have, want, raw)
	}
	// The command form, as the bench script uses it.
	cmd = exec.Command(py, filepath.Join(contrib, "hermes_keys.py"), "get", "env:PY_NEW")
	cmd.Env = envList(without(env, "HERMES_KEYS_PASSPHRASE"))
	if out, err := cmd.Output(); err != nil || string(out) != "CANARY-py-new\n" {
		t.Fatalf("hermes_keys.py get: %q %v", out, err)
	}
	cmd = exec.Command(py, filepath.Join(contrib, "hermes_keys.py"), "get", "env:NOPE")
	cmd.Env = envList(without(env, "HERMES_KEYS_PASSPHRASE"))
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("hermes_keys.py get of a missing key: %v", err)
	}

	// A peer that accepts and never answers: the call times out with a
	// connection error instead of hanging.
	mute := filepath.Join(sockDir(t), "mute.sock")
	ln, err := net.Listen("unix", mute)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	cmd = exec.Command(py, "-c", `
import sys, time
sys.path.insert(0, sys.argv[1])
import hermes_keys as hk
c = hk.Client(sys.argv[2], timeout=0.3)
try:
    c.get("env:X")
    print("answered")
except hk.HermesKeysError as e:
    print(e.code)
`, contrib, mute)
	cmd.Env = envList(nil)
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "connection\n" {
		t.Fatalf("python client against a mute peer: %q %v", out, err)
	}
}
