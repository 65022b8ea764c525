package backends_test

// ReadForeign against the real Windows Credential Manager (or Wine's, as
// scripts/test runs it): credentials written with CredWriteW exactly as
// Codex's keyring crate writes them are found and decoded, and nothing
// else is.

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/backends/backendtest"
	"golang.org/x/sys/windows"
)

var (
	testAdvapi32   = windows.NewLazySystemDLL("advapi32.dll")
	testCredWriteW = testAdvapi32.NewProc("CredWriteW")
	testCredDelete = testAdvapi32.NewProc("CredDeleteW")
)

// testCredential is CREDENTIALW.
type testCredential struct {
	Flags              uint32
	Type               uint32
	TargetName         *uint16
	Comment            *uint16
	LastWritten        windows.Filetime
	CredentialBlobSize uint32
	CredentialBlob     *byte
	Persist            uint32
	AttributeCount     uint32
	Attributes         uintptr
	TargetAlias        *uint16
	UserName           *uint16
}

// writeGeneric writes a generic credential the way keyring-rs v3 does
// (comment "keyring v3.6.3", CRED_PERSIST_ENTERPRISE) and deletes it when
// the test ends.
func writeGeneric(t *testing.T, target, user string, blob []byte) {
	t.Helper()
	tn, _ := windows.UTF16PtrFromString(target)
	un, _ := windows.UTF16PtrFromString(user)
	cm, _ := windows.UTF16PtrFromString("keyring v3.6.3")
	c := testCredential{Type: 1, TargetName: tn, Comment: cm, UserName: un, Persist: 3,
		CredentialBlobSize: uint32(len(blob))}
	if len(blob) > 0 {
		c.CredentialBlob = &blob[0]
	}
	r, _, err := testCredWriteW.Call(uintptr(unsafe.Pointer(&c)), 0)
	runtime.KeepAlive(blob)
	if r == 0 {
		t.Fatalf("CredWriteW %q: %v", target, err)
	}
	t.Cleanup(func() { testCredDelete.Call(uintptr(unsafe.Pointer(tn)), 1, 0) })
}

func TestRealWinCredForeign(t *testing.T) {
	backendtest.Require(t, "HERMES_KEYS_REAL_WINCRED", "wincred")
	cfg := backends.Config{Timeout: suiteTimeout}
	ctx := t.Context()
	hash := unique("cli")
	const doc = `{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-CANARY-wincred"}`

	// Codex's direct entry: target "<account>.<service>", UTF-16LE.
	writeGeneric(t, hash+".Codex Auth", hash, utf16le(doc))
	got, err := backends.ReadForeign(ctx, cfg, "Codex Auth", hash)
	if err != nil || got != doc {
		t.Fatalf("Codex Auth entry: got %d bytes, %v; want the document", len(got), err)
	}

	// The secrets passphrase under service "codex", same naming.
	sec := unique("secrets")
	const pass = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	writeGeneric(t, sec+".codex", sec, utf16le(pass))
	if got, err := backends.ReadForeign(ctx, cfg, "codex", sec); err != nil || got != pass {
		t.Fatalf("codex passphrase: got %d bytes, %v", len(got), err)
	}

	// A UTF-8 blob (as zalando/go-keyring and other Go tools write) is
	// read as well.
	u8 := unique("cli")
	writeGeneric(t, u8+".Codex Auth", u8, []byte(doc))
	if got, err := backends.ReadForeign(ctx, cfg, "Codex Auth", u8); err != nil || got != doc {
		t.Fatalf("UTF-8 blob: got %d bytes, %v", len(got), err)
	}

	// zalando's own naming is not Codex's: an item under
	// "<service>:<account>" is not taken for Codex's.
	zk := unique("cli")
	writeGeneric(t, "Codex Auth:"+zk, zk, []byte(doc))
	if _, err := backends.ReadForeign(ctx, cfg, "Codex Auth", zk); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("zalando-named item: %v, want ErrNotFound", err)
	}

	// Missing: ErrNotFound, nothing created.
	missing := unique("cli")
	if _, err := backends.ReadForeign(ctx, cfg, "Codex Auth", missing); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("missing entry: %v, want ErrNotFound", err)
	}
	if _, err := backends.ReadForeign(ctx, cfg, "Codex Auth", missing); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("missing entry, second read: %v (a read created it?)", err)
	}
}
