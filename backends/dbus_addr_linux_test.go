package backends

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func TestSingleUnixPath(t *testing.T) {
	for addr, want := range map[string]bool{
		"unix:path=/run/user/1000/bus":                true,
		"unix:path=/tmp/dbus-x,guid=0123456789abcdef": true,
		"unix:abstract=/tmp/dbus-x,guid=0123":         true,
		"unix:tmpdir=/tmp":                            false, // nothing to dial
		"tcp:host=localhost,port=1234":                false,
		"unix:path=/a;unix:path=/b":                   false, // several transports: checked first
		"":                                            false,
	} {
		if got := singleUnixPath(addr); got != want {
			t.Errorf("singleUnixPath(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestPrivateBusDeadSocketIsNoBus: without the separate check connection, a
// dead socket is still "no bus" (ErrNoBus, the backend is simply not
// there), not a broken bus.
func TestPrivateBusDeadSocketIsNoBus(t *testing.T) {
	dead := "unix:path=" + filepath.Join(t.TempDir(), "dead.sock") + ",guid=00"
	env := iox.MapEnv(map[string]string{"DBUS_SESSION_BUS_ADDRESS": dead})
	_, err := privateBus(context.Background(), env)
	if !errors.Is(err, ErrNoBus) {
		t.Fatalf("privateBus on a dead socket = %v, want ErrNoBus", err)
	}
}
