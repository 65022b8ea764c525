package backends_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/hermes-keys/hermes-keys/backends"
)

// utf16le is what the Rust keyring crate writes as a Windows credential
// blob: the password as UTF-16LE code units, no terminator.
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// TestWinTargetName: the names Codex's keyring crate gives its two Windows
// credentials (codex-auth.md §3.3, §3.4), not zalando's service:account.
func TestWinTargetName(t *testing.T) {
	for _, c := range []struct{ service, account, want string }{
		{"Codex Auth", "cli|0a09f70e1bf72236", "cli|0a09f70e1bf72236.Codex Auth"},
		{"codex", "secrets|0a09f70e1bf72236", "secrets|0a09f70e1bf72236.codex"},
	} {
		if got := backends.WinTargetName(c.service, c.account); got != c.want {
			t.Errorf("WinTargetName(%q, %q) = %q, want %q", c.service, c.account, got, c.want)
		}
	}
}

func TestDecodeCredBlob(t *testing.T) {
	const doc = `{"auth_mode":"apikey","OPENAI_API_KEY":"sk-CANARY-blob"}`
	const pass = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	ok := []struct {
		name string
		blob []byte
		want string
	}{
		{"utf16le json (keyring-rs)", utf16le(doc), doc},
		{"utf16le passphrase (keyring-rs)", utf16le(pass), pass},
		{"utf16le with bom", append([]byte{0xFF, 0xFE}, utf16le(doc)...), doc},
		{"utf16le with terminator", append(utf16le(doc), 0, 0), doc},
		{"utf16le non-latin", utf16le("日本語"), "日本語"},
		{"utf16le surrogate pair", utf16le("key 🔑 é"), "key 🔑 é"},
		{"utf8 json (zalando)", []byte(doc), doc},
		{"utf8 non-ascii", []byte("clé é"), "clé é"},
		{"utf8 with bom kept for the parser", []byte("\xEF\xBB\xBF" + doc), "\uFEFF" + doc},
		{"empty", nil, ""},
	}
	for _, c := range ok {
		got, err := backends.DecodeCredBlob(c.blob)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	lone := utf16le("ab")
	lone = append(lone, 0x3D, 0xD8) // a high surrogate at the end
	bad := []struct {
		name string
		blob []byte
	}{
		{"odd length with NUL", append(utf16le("sk-CANARY-odd"), 'x')},
		{"unpaired high surrogate", lone},
		{"unpaired low surrogate", append(utf16le("sk-CANARY"), 0x00, 0xDC, 'a', 0)},
		{"NUL inside", append(append(utf16le("sk-CANARY"), 0, 0), utf16le("tail")...)},
		{"invalid utf8 of odd length", []byte{'s', 'k', 0xC3}},
		{"too big", make([]byte, 1<<20+2)},
	}
	for _, c := range bad {
		got, err := backends.DecodeCredBlob(c.blob)
		if err == nil {
			t.Errorf("%s: decoded to %q, want an error", c.name, got)
			continue
		}
		if strings.Contains(err.Error(), "CANARY") {
			t.Errorf("%s: error quotes the blob: %v", c.name, err)
		}
	}
	if _, err := backends.DecodeCredBlob(make([]byte, 1<<20+2)); !errors.Is(err, backends.ErrTooBig) {
		t.Errorf("oversized blob: %v, want ErrTooBig", err)
	}
}
