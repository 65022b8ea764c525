package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// ErrUntrusted means the socket is not this user's daemon's: its directory
// belongs to someone else or others may write to it, or the process that
// listens on it runs as another user. The client then sends nothing.
var ErrUntrusted = errors.New("refusing the broker daemon socket")

// checkSocketDir is the first check a client makes, before it connects:
// the socket's directory must belong to uid and be writable by no one
// else. Otherwise another user could have put their own socket there (or
// could swap it later), and would receive the unlock passphrase and choose
// the answers to get and env.
func checkSocketDir(path string, uid int) error {
	dir := filepath.Dir(path)
	owner, mode, err := ownerOf(dir)
	if err != nil {
		return fmt.Errorf("%w %s: its directory: %w", ErrUntrusted, path, err)
	}
	if owner != uid {
		return xerr.Hintf(fmt.Errorf("%w %s: its directory belongs to %s, not to this user (%s)", ErrUntrusted, path, userName(owner), userName(uid)),
			"unset HERMES_KEYS_SOCKET or XDG_RUNTIME_DIR left over from another user (su, sudo -E), or point HERMES_KEYS_SOCKET into a directory of your own")
	}
	if mode&0o022 != 0 {
		return xerr.Hintf(fmt.Errorf("%w %s: its directory %s is writable by others (mode %04o)", ErrUntrusted, path, dir, mode),
			"point HERMES_KEYS_SOCKET into a directory only you can write, e.g. $XDG_RUNTIME_DIR/hermes-keys")
	}
	return nil
}

// checkPeer is the second check, on the connected socket before a byte is
// sent: the listening process must run as uid.
func checkPeer(c net.Conn, path string, uid int) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w %s: not a Unix socket connection", ErrUntrusted, path)
	}
	puid, pid, err := peerCred(uc)
	if err != nil {
		return fmt.Errorf("%w %s: cannot read the credentials of the process listening on it: %w", ErrUntrusted, path, err)
	}
	if puid != uid {
		return xerr.Hintf(fmt.Errorf("%w %s: the process listening on it (pid %d) runs as %s, not as this user (%s)", ErrUntrusted, path, pid, userName(puid), userName(uid)),
			"another user's process holds this socket path; unset HERMES_KEYS_SOCKET, or use a socket in a directory of your own")
	}
	return nil
}

// userName is "uid N (name)", or "uid N" when the name is unknown.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return fmt.Sprintf("uid %d (%s)", uid, printable(u.Username))
	}
	return fmt.Sprintf("uid %d", uid)
}

// printable quotes a name that holds a control or other non-graphic rune,
// so that a log line or an error stays one honest line.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || r == unicode.ReplacementChar }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// ownerOf is the uid and permission bits of path (followed if a link).
func ownerOf(path string) (int, os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return -1, 0, err
	}
	uid, ok := fileUID(fi)
	if !ok {
		return -1, 0, fmt.Errorf("cannot tell who owns %s on this platform", path)
	}
	return uid, fi.Mode().Perm(), nil
}
