package backends

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/godbus/dbus/v5"
)

// encodeCall's messages decode with the serial it wrote and every header.
func TestEncodeCallSerial(t *testing.T) {
	var buf bytes.Buffer
	attrs := map[string]string{"service": "hermes-keys", "username": "vault:x"}
	if err := encodeCall(&buf, 7, ssName, ssLoginPath, ssCollection+".SearchItems", dbus.FlagNoAutoStart, attrs); err != nil {
		t.Fatal(err)
	}
	if err := encodeCall(&buf, 0x01020304, ssName, ssPath, "org.freedesktop.Secret.Session.Close", dbus.FlagNoReplyExpected); err != nil {
		t.Fatal(err)
	}
	in := bufio.NewReader(&buf)
	for _, want := range []struct {
		serial uint32
		member string
		flags  dbus.Flags
		args   int
	}{{7, "SearchItems", dbus.FlagNoAutoStart, 1}, {0x01020304, "Close", dbus.FlagNoReplyExpected, 0}} {
		m, err := dbus.DecodeMessage(in)
		if err != nil {
			t.Fatal(err)
		}
		if m.Serial() != want.serial || m.Headers[dbus.FieldMember].Value() != want.member || m.Flags != want.flags || len(m.Body) != want.args {
			t.Errorf("decoded %v, want serial %#x member %s flags %v with %d args", m, want.serial, want.member, want.flags, want.args)
		}
	}
}

// readReplies takes bytes from the bus; whatever they are, it returns an
// error or replies, and never panics or loops.
func FuzzReadReplies(f *testing.F) {
	var reply bytes.Buffer
	m := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf([]dbus.ObjectPath{})),
	}, Body: []any{[]dbus.ObjectPath{"/a/b"}}}
	if err := m.EncodeTo(&reply, binary.LittleEndian); err != nil {
		f.Fatal(err)
	}
	f.Add(reply.Bytes())
	f.Add([]byte("l\x02\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readReplies(bufio.NewReader(bytes.NewReader(data)), 1, 1)
		if err == nil && len(got) != 1 {
			t.Fatalf("no error and %d replies", len(got))
		}
	})
}
