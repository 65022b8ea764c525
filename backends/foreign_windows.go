package backends

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

const foreignName = "wincred"

// foreignHolder reads a generic credential the way the Rust keyring crate
// (Codex) writes it: target "<account>.<service>", blob UTF-16LE.
// zalando/go-keyring can only look up its own "<service>:<account>"
// targets and returns blobs as UTF-8, so this calls CredReadW itself.
func foreignHolder(_ Config, service string) Holder { return winForeign{service: service} }

type winForeign struct{ service string }

// errReadOnly is what the holder answers to a write: ReadForeign only
// ever reads, and nothing else can reach it.
var errReadOnly = errors.New("another program's keychain item is read-only to hermes-keys")

var (
	modAdvapi32   = windows.NewLazySystemDLL("advapi32.dll")
	procCredReadW = modAdvapi32.NewProc("CredReadW")
	procCredFree  = modAdvapi32.NewProc("CredFree")
)

// credentialW is CREDENTIALW (wincred.h).
type credentialW struct {
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

const credTypeGeneric = 1 // CRED_TYPE_GENERIC

func (w winForeign) Get(ctx context.Context, account string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	target := WinTargetName(w.service, account)
	blob, err := credReadGeneric(target)
	if err != nil {
		return "", fmt.Errorf("%q: %w", target, err)
	}
	s, err := DecodeCredBlob(blob)
	if err != nil {
		return "", fmt.Errorf("%q: %w", target, err)
	}
	return s, nil
}

func (w winForeign) Set(context.Context, string, string) error { return errReadOnly }
func (w winForeign) Delete(context.Context, string) error      { return errReadOnly }

func (w winForeign) Probe(context.Context) error {
	if err := procCredReadW.Find(); err != nil {
		return fmt.Errorf("%w: CredReadW: %v", ErrUnavailable, err)
	}
	return nil
}

// credReadGeneric returns a copy of the blob of the generic credential
// target. Nothing is written.
func credReadGeneric(target string) ([]byte, error) {
	name, err := windows.UTF16PtrFromString(target)
	if err != nil {
		return nil, fmt.Errorf("target name: %w", err)
	}
	if err := procCredReadW.Find(); err != nil {
		return nil, fmt.Errorf("%w: CredReadW: %v", ErrUnavailable, err)
	}
	var cred *credentialW
	r, _, callErr := procCredReadW.Call(uintptr(unsafe.Pointer(name)), credTypeGeneric, 0, uintptr(unsafe.Pointer(&cred)))
	if r == 0 {
		if errors.Is(callErr, windows.ERROR_NOT_FOUND) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("CredReadW: %w", callErr)
	}
	defer procCredFree.Call(uintptr(unsafe.Pointer(cred)))
	n := cred.CredentialBlobSize
	if n > maxCredBlob {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooBig, n)
	}
	if n == 0 || cred.CredentialBlob == nil {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice(cred.CredentialBlob, n)...), nil
}
