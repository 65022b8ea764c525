package backends

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// errSlowPath: the quick read could not decide; the caller takes the
// general path (godbus's handshake, activation), which decides and
// classifies every failure.
var errSlowPath = errors.New("secret service: take the general path")

// ssQuickGet reads one item as secretService.Get does, in two round trips
// instead of about twelve (issue 12: `get` and `env` are run in loops and
// each D-Bus round trip to gnome-keyring costs a few hundred microseconds).
// It pipelines what sd-bus pipelines: the EXTERNAL handshake with BEGIN,
// Hello, both collections' Locked property, both searches and OpenSession
// in one write; then GetSecret (and a Close nobody waits for) in a second.
// Every call carries NO_AUTO_START, so nothing is activated here: a
// Secret Service that is not running, an address that is not one unix
// socket, or a refused handshake returns errSlowPath.
func ssQuickGet(ctx context.Context, env iox.Env, svc, account string) (string, error) {
	addr, err := busAddress(env)
	if err != nil {
		return "", errSlowPath
	}
	sock, ok := unixSocketOf(addr)
	if !ok {
		return "", errSlowPath
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return "", errSlowPath
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(DefaultTimeout))
	}

	where := svc + "/" + account
	attrs := map[string]string{"username": account, "service": svc}
	var out bytes.Buffer
	out.WriteString("\x00AUTH EXTERNAL " + hex.EncodeToString([]byte(strconv.Itoa(os.Geteuid()))) + "\r\nBEGIN\r\n")
	calls := []struct {
		path         dbus.ObjectPath
		dest, member string
		args         []any
	}{
		1: {"/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus.Hello", nil},
		2: {ssLoginPath, ssName, "org.freedesktop.DBus.Properties.Get", []any{ssCollection, "Locked"}},
		3: {ssAliasPath, ssName, "org.freedesktop.DBus.Properties.Get", []any{ssCollection, "Locked"}},
		4: {ssLoginPath, ssName, ssCollection + ".SearchItems", []any{attrs}},
		5: {ssAliasPath, ssName, ssCollection + ".SearchItems", []any{attrs}},
		6: {ssPath, ssName, "org.freedesktop.Secret.Service.OpenSession", []any{"plain", dbus.MakeVariant("")}},
	}
	for serial := 1; serial < len(calls); serial++ {
		k := calls[serial]
		if err := encodeCall(&out, uint32(serial), k.dest, k.path, k.member, dbus.FlagNoAutoStart, k.args...); err != nil {
			return "", errSlowPath
		}
	}
	if _, err := c.Write(out.Bytes()); err != nil {
		return "", errSlowPath
	}
	in := bufio.NewReader(c)
	line, err := in.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		return "", errSlowPath
	}
	replies, err := readReplies(in, 1, 6)
	if err != nil {
		return "", fmt.Errorf("%w: session bus: %v", ErrUnavailable, err)
	}
	if replies[1].err != nil {
		return "", errSlowPath
	}

	// The collection zalando writes to: login, else the default alias.
	search := 0
	for i, serial := range []uint32{2, 3} {
		r := replies[serial]
		if r.err != nil {
			switch r.err.Name {
			case "org.freedesktop.DBus.Error.NameHasNoOwner", "org.freedesktop.DBus.Error.ServiceUnknown":
				return "", errSlowPath // not running; the general path knows about activation
			}
			continue
		}
		v, ok := bodyAt[dbus.Variant](r.body, 0)
		if !ok {
			return "", fmt.Errorf("%w: the Secret Service answered Locked with %s", ErrUnavailable, dbus.SignatureOf(r.body...))
		}
		if locked, ok := v.Value().(bool); ok && locked {
			return "", fmt.Errorf("%w: the Secret Service login keyring is locked", ErrLocked)
		}
		search = 4 + i
		break
	}
	if search == 0 {
		return "", fmt.Errorf("%w: the Secret Service has no default or login collection", ErrUnavailable)
	}
	found := replies[uint32(search)]
	if found.err != nil && search == 4 {
		found = replies[5] // as Get: a login collection that cannot search, the alias
	}
	if found.err != nil {
		return "", fmt.Errorf("%s: search: %w", where, ssError(*found.err))
	}
	items, ok := bodyAt[[]dbus.ObjectPath](found.body, 0)
	if !ok {
		return "", fmt.Errorf("%w: %s: search answered %s", ErrUnavailable, where, dbus.SignatureOf(found.body...))
	}
	if len(items) == 0 {
		return "", fmt.Errorf("%s: %w", where, ErrNotFound)
	}
	opened := replies[6]
	if opened.err != nil {
		return "", fmt.Errorf("%s: open a session: %w", where, ssError(*opened.err))
	}
	session, ok := bodyAt[dbus.ObjectPath](opened.body, 1)
	if !ok {
		return "", fmt.Errorf("%w: %s: OpenSession answered %s", ErrUnavailable, where, dbus.SignatureOf(opened.body...))
	}

	out.Reset()
	if err := encodeCall(&out, 7, ssName, items[0], "org.freedesktop.Secret.Item.GetSecret", dbus.FlagNoAutoStart, session); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// The session ends with the connection anyway; say so without waiting.
	if err := encodeCall(&out, 8, ssName, session, "org.freedesktop.Secret.Session.Close", dbus.FlagNoAutoStart|dbus.FlagNoReplyExpected); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := c.Write(out.Bytes()); err != nil {
		return "", fmt.Errorf("%w: session bus: %v", ErrUnavailable, err)
	}
	replies, err = readReplies(in, 7, 7)
	if err != nil {
		return "", fmt.Errorf("%w: session bus: %v", ErrUnavailable, err)
	}
	got := replies[7]
	if got.err != nil {
		return "", fmt.Errorf("%s: %w", where, ssError(*got.err))
	}
	secret, ok := bodyAt[[]any](got.body, 0)
	var value []byte
	if ok && len(secret) == 4 {
		value, ok = secret[2].([]byte)
	}
	if !ok {
		return "", fmt.Errorf("%w: %s: GetSecret answered %s", ErrUnavailable, where, dbus.SignatureOf(got.body...))
	}
	return string(value), nil
}

// unixSocketOf is the socket of an address that is one unix transport to a
// path or an abstract name.
func unixSocketOf(addr string) (string, bool) {
	if !singleUnixPath(addr) {
		return "", false
	}
	params, _ := strings.CutPrefix(addr, "unix:")
	for _, p := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "path":
			return unescapeBus(v), true
		case "abstract":
			return "@" + unescapeBus(v), true
		}
	}
	return "", false
}

// encodeCall appends a method call with the given serial. godbus encodes
// (and validates) it; the serial, which godbus keeps to its own
// connections, is written at its fixed place in the header, offset 8.
func encodeCall(out *bytes.Buffer, serial uint32, dest string, path dbus.ObjectPath, member string, flags dbus.Flags, args ...any) error {
	iface, name := member[:strings.LastIndexByte(member, '.')], member[strings.LastIndexByte(member, '.')+1:]
	m := &dbus.Message{
		Type:  dbus.TypeMethodCall,
		Flags: flags,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:        dbus.MakeVariant(path),
			dbus.FieldDestination: dbus.MakeVariant(dest),
			dbus.FieldInterface:   dbus.MakeVariant(iface),
			dbus.FieldMember:      dbus.MakeVariant(name),
		},
		Body: args,
	}
	if len(args) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	start := out.Len()
	if err := m.EncodeTo(out, binary.LittleEndian); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(out.Bytes()[start+8:], serial)
	return nil
}

type reply struct {
	body []any
	err  *dbus.Error
}

// readReplies reads messages until the replies to serials first..last are
// all in, skipping signals (NameAcquired follows Hello). A bus that sends
// more than a few dozen other messages first is not one to wait on.
func readReplies(in *bufio.Reader, first, last uint32) (map[uint32]reply, error) {
	got := make(map[uint32]reply, last-first+1)
	for n := 0; len(got) < int(last-first+1); n++ {
		if n > 64 {
			return nil, errors.New("too many messages before the replies")
		}
		m, err := dbus.DecodeMessage(in)
		if err != nil {
			return nil, err
		}
		rs, _ := m.Headers[dbus.FieldReplySerial].Value().(uint32)
		if rs < first || rs > last {
			continue
		}
		switch m.Type {
		case dbus.TypeMethodReply:
			got[rs] = reply{body: m.Body}
		case dbus.TypeError:
			name, _ := m.Headers[dbus.FieldErrorName].Value().(string)
			got[rs] = reply{err: &dbus.Error{Name: name, Body: m.Body}}
		}
	}
	return got, nil
}

// bodyAt is body[i] as a T, if it is one.
func bodyAt[T any](body []any, i int) (T, bool) {
	var zero T
	if i >= len(body) {
		return zero, false
	}
	v, ok := body[i].(T)
	return v, ok
}
