package backends

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// ReadForeign reads another program's item (the Codex CLI's, say) from the
// platform keychain, read-only, under the same deadline and D-Bus checks as
// our own items. service and account are the names the other program gave
// its item: on macOS and Linux they are looked up as they are; on Windows
// the item is found under the target name the Rust keyring crate gives it
// ("<account>.<service>", see WinTargetName) and its blob is decoded from
// UTF-16LE (or UTF-8; see DecodeCredBlob).
func ReadForeign(ctx context.Context, cfg Config, service, account string) (string, error) {
	b := Guard(foreignName, foreignHolder(cfg, service), 0, cfg.Timeout)
	s, err := b.Get(ctx, account)
	if err != nil {
		return "", fmt.Errorf("%s item: %w", service, err)
	}
	return s, nil
}

// WinTargetName is the Windows Credential Manager target name the Rust
// keyring crate (v3, which Codex uses) gives a generic credential created
// with Entry::new(service, account): "<account>.<service>", e.g.
// "cli|0a09f70e1bf72236.Codex Auth". zalando/go-keyring, which our own
// items go through, uses "<service>:<account>" instead, so it cannot find
// Codex's items.
func WinTargetName(service, account string) string { return account + "." + service }

// maxCredBlob bounds a blob we accept. Windows itself caps a generic
// credential's blob at 2,560 bytes (CRED_MAX_CREDENTIAL_BLOB_SIZE); Wine
// does not, so anything past this is refused rather than decoded.
const maxCredBlob = 1 << 20

var errBlobEncoding = errors.New("credential blob is neither UTF-16LE nor UTF-8 text")

// DecodeCredBlob turns a generic credential's blob into text. The Rust
// keyring crate stores a password as UTF-16LE without terminator;
// zalando/go-keyring and most Go code store UTF-8. The two are told apart
// by NUL bytes: UTF-8 text never contains one, while UTF-16LE of any text
// with an ASCII or Latin-1 character (every JSON document, every base64
// passphrase) does. A blob with no NUL that is valid UTF-8 is UTF-8; any
// other blob of even length is read as UTF-16LE (a leading byte order
// mark and trailing NUL units are dropped) and must be well formed. The
// error never quotes the blob: it is a secret.
func DecodeCredBlob(b []byte) (string, error) {
	if len(b) > maxCredBlob {
		return "", fmt.Errorf("%w: %d bytes", ErrTooBig, len(b))
	}
	hasNUL := false
	for _, c := range b {
		if c == 0 {
			hasNUL = true
			break
		}
	}
	bom := len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE
	if !hasNUL && !bom && utf8.Valid(b) {
		return string(b), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w (odd length %d)", errBlobEncoding, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	if len(u) > 0 && u[0] == 0xFEFF {
		u = u[1:]
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case c == 0:
			return "", fmt.Errorf("%w (NUL character inside)", errBlobEncoding)
		case utf16.IsSurrogate(rune(c)):
			if c >= 0xDC00 || i+1 == len(u) || u[i+1] < 0xDC00 || u[i+1] > 0xDFFF {
				return "", fmt.Errorf("%w (unpaired surrogate)", errBlobEncoding)
			}
			i++
		}
	}
	return string(utf16.Decode(u)), nil
}
