package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
)

const canary = "CANARY-vault-7f3a9c"

func newVault(t testing.TB, recovery bool) (*Vault, *backends.Fake, string) {
	t.Helper()
	b, f := backends.NewFake(4096)
	dir := filepath.Join(t.TempDir(), DirName)
	v, rec, err := Create(context.Background(), dir, b, CreateOptions{Recovery: recovery})
	if err != nil {
		t.Fatal(err)
	}
	return v, f, rec
}

func TestCreateLayoutAndModes(t *testing.T) {
	v, f, rec := newVault(t, false)
	if rec != "" {
		t.Fatalf("no recovery asked, got one")
	}
	if f.Len() != 1 {
		t.Fatalf("keychain holds %d items, want 1", f.Len())
	}
	for name, want := range map[string]os.FileMode{VaultFile: 0o600, MetaFile: 0o600} {
		fi, err := os.Stat(filepath.Join(v.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", name, fi.Mode().Perm(), want)
		}
	}
	fi, _ := os.Stat(v.Dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o, want 700", fi.Mode().Perm())
	}
	meta, _ := os.ReadFile(filepath.Join(v.Dir, MetaFile))
	if bytes.Contains(meta, []byte("AGE-SECRET-KEY")) {
		t.Fatal("vault.json holds a secret key")
	}
	if _, _, err := Create(context.Background(), v.Dir, v.Backend, CreateOptions{}); err == nil {
		t.Fatal("second Create over an existing vault succeeded")
	}
}

func TestUpdateReadGenerations(t *testing.T) {
	v, _, _ := newVault(t, false)
	ctx := context.Background()
	val := json.RawMessage(`{"access_token":"` + canary + `"}`)
	c, err := v.Update(ctx, func(c *Contents) (bool, error) { return c.Put("providers/nous", "provider", val, time.Now()), nil })
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation != 1 || c.Records["providers/nous"].Generation != 1 {
		t.Fatalf("generations %d/%d, want 1/1", c.Generation, c.Records["providers/nous"].Generation)
	}
	// An identical Put changes nothing and writes nothing.
	before, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
	if _, err := v.Update(ctx, func(c *Contents) (bool, error) { return c.Put("providers/nous", "provider", val, time.Now()), nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
	if !bytes.Equal(before, after) {
		t.Fatal("a no-op update rewrote vault.age")
	}
	if bytes.Contains(after, []byte(canary)) {
		t.Fatal("vault.age holds the secret in plaintext")
	}
	// A fresh Vault (new process) reads what was written.
	v2, err := Open(v.Dir, v.Backend)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v2.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Records["providers/nous"].Value) != string(val) {
		t.Fatalf("read back %s", got.Records["providers/nous"].Value)
	}
	// Generation check: a writer holding generation 1 wins once, then loses.
	if _, err := v2.Update(ctx, func(c *Contents) (bool, error) {
		return true, c.PutIf("providers/nous", "provider", json.RawMessage(`{"v":2}`), 1, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	_, err = v.Update(ctx, func(c *Contents) (bool, error) {
		return true, c.PutIf("providers/nous", "provider", json.RawMessage(`{"v":3}`), 1, time.Now())
	})
	if !errors.Is(err, ErrGeneration) {
		t.Fatalf("stale generation: got %v, want ErrGeneration", err)
	}
	got, _ = v.Read(ctx)
	if string(got.Records["providers/nous"].Value) != `{"v":2}` || got.Records["providers/nous"].Generation != 2 {
		t.Fatalf("after conflict: %s gen %d", got.Records["providers/nous"].Value, got.Records["providers/nous"].Generation)
	}
}

func TestRecoveryKeyOpensVault(t *testing.T) {
	v, _, rec := newVault(t, true)
	if !strings.HasPrefix(rec, "AGE-SECRET-KEY-1") {
		t.Fatalf("recovery identity %q", rec[:10])
	}
	if _, err := v.Update(context.Background(), func(c *Contents) (bool, error) {
		return c.Put("env:OPENAI_API_KEY", "env", json.RawMessage(`"`+canary+`"`), time.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	meta, _ := os.ReadFile(filepath.Join(v.Dir, MetaFile))
	if bytes.Contains(meta, []byte(rec)) {
		t.Fatal("recovery identity stored in vault.json")
	}
	id, err := age.ParseX25519Identity(rec)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := os.ReadFile(filepath.Join(v.Dir, VaultFile))
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		t.Fatalf("recovery key cannot open vault.age: %v", err)
	}
	pt, _ := io.ReadAll(r)
	if !bytes.Contains(pt, []byte(canary)) {
		t.Fatal("recovery decrypt lacks the record")
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	v, _, _ := newVault(t, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	const n = 8
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine is its own "process": its own Vault value.
			vi, err := Open(v.Dir, v.Backend)
			if err != nil {
				t.Error(err)
				return
			}
			for j := range 5 {
				key := fmt.Sprintf("env:K%d_%d", i, j)
				if _, err := vi.Update(ctx, func(c *Contents) (bool, error) {
					return c.Put(key, "env", json.RawMessage(`"v"`), time.Now()), nil
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c, err := v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Records) != n*5 || c.Generation != n*5 {
		t.Fatalf("%d records, generation %d; want %d each", len(c.Records), c.Generation, n*5)
	}
}

func TestUpdateLockTimeout(t *testing.T) {
	v, _, _ := newVault(t, false)
	lk, err := lockfile.Acquire(context.Background(), filepath.Join(v.Dir, LockFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	old := LockTimeout
	LockTimeout = 100 * time.Millisecond
	defer func() { LockTimeout = old }()
	_, err = v.Update(context.Background(), func(c *Contents) (bool, error) { return true, nil })
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("got %v, want ErrLockTimeout", err)
	}
}

// TestBadInputChangesNothing: every refusal leaves the files as they were.
func TestBadInputChangesNothing(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, v *Vault, f *backends.Fake)
		want   error
	}{
		{"truncated vault", func(t *testing.T, v *Vault, _ *backends.Fake) {
			p := filepath.Join(v.Dir, VaultFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o600)
		}, ErrCorrupt},
		{"garbage vault", func(t *testing.T, v *Vault, _ *backends.Fake) {
			os.WriteFile(filepath.Join(v.Dir, VaultFile), []byte("not age at all"), 0o600)
		}, ErrCorrupt},
		{"group readable vault", func(t *testing.T, v *Vault, _ *backends.Fake) {
			os.Chmod(filepath.Join(v.Dir, VaultFile), 0o640)
		}, backends.ErrInsecureFile},
		{"missing keychain item", func(t *testing.T, v *Vault, f *backends.Fake) {
			f.Delete(context.Background(), v.Meta.Account())
		}, ErrKeyMissing},
		{"key of another vault", func(t *testing.T, v *Vault, f *backends.Fake) {
			other, _ := age.GenerateX25519Identity()
			f.Set(context.Background(), v.Meta.Account(), other.String())
		}, ErrWrongKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, f, _ := newVault(t, false)
			ctx := context.Background()
			if _, err := v.Update(ctx, func(c *Contents) (bool, error) {
				return c.Put("providers/nous", "provider", json.RawMessage(`{"t":"`+canary+`"}`), time.Now()), nil
			}); err != nil {
				t.Fatal(err)
			}
			tc.break_(t, v, f)
			before := snapshot(t, v.Dir)
			v2, err := Open(v.Dir, v.Backend)
			if err == nil {
				_, err = v2.Update(ctx, func(c *Contents) (bool, error) {
					return c.Put("providers/x", "provider", json.RawMessage(`{}`), time.Now()), nil
				})
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatal("error message holds a secret")
			}
			if after := snapshot(t, v.Dir); after != before {
				t.Fatalf("files changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func TestNewerFormatRefused(t *testing.T) {
	v, _, _ := newVault(t, false)
	p := filepath.Join(v.Dir, MetaFile)
	b, _ := os.ReadFile(p)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["format"] = FormatVersion + 1
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o600)
	_, err := Open(v.Dir, v.Backend)
	if !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("got %v, want ErrNewerFormat", err)
	}
}

// snapshot lists every file under dir except the lock, with its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == LockFile {
			return nil
		}
		b, _ := os.ReadFile(p)
		fi, _ := d.Info()
		fmt.Fprintf(&sb, "%s %o %x\n", d.Name(), fi.Mode().Perm(), b)
		return nil
	})
	return sb.String()
}

// BenchmarkSealOpen64K seals and opens a record set of 64 KB.
func BenchmarkSealOpen64K(b *testing.B) {
	v, _, _ := newVault(b, false)
	ctx := context.Background()
	val := json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)
	if _, err := v.Update(ctx, func(c *Contents) (bool, error) {
		for i := range 64 {
			c.Put(fmt.Sprintf("env:K%02d", i), "env", val, time.Now())
		}
		return true, nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		c, _ := v.Read(ctx)
		b.SetBytes(64 * 1000)
		for b.Loop() {
			c.Generation++
			if err := v.write(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(64 * 1000)
		for b.Loop() {
			if _, err := v.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestConcurrentCreate: of several first migrations at once, exactly one
// creates the vault, and the vault it leaves opens.
func TestConcurrentCreate(t *testing.T) {
	b, _ := backends.NewFake(4096)
	dir := filepath.Join(t.TempDir(), DirName)
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := Create(context.Background(), dir, b, CreateOptions{}); err == nil {
				mu.Lock()
				made++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if made != 1 {
		t.Fatalf("%d creations succeeded, want 1", made)
	}
	v, err := Open(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Read(context.Background()); err != nil {
		t.Fatalf("the vault left behind does not open: %v", err)
	}
}
