// Package safefs opens hermes-keys's own files (locks, session records,
// temp files) without ever following a symbolic link, and tells whether a
// path belongs to the caller's uid.
//
// It promises: OpenNoFollow never opens anything through a symbolic link
// in the last component (O_NOFOLLOW; on Linux also openat2 with
// RESOLVE_NO_SYMLINKS, falling back to O_NOFOLLOW where the kernel has no
// openat2); a refused link gives an error matching ErrSymlink. CheckOwner
// refuses a path owned by another uid with an error matching
// ErrForeignOwner that names the owner. On Windows neither applies: files
// there carry ACLs, not a uid, and links need privileges; both reduce to
// the plain calls.
package safefs

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
)

// ErrSymlink: a symbolic link where hermes-keys's own file or directory
// belongs. It is never followed.
var ErrSymlink = errors.New("is a symbolic link, which hermes-keys does not follow for its own files")

// ErrForeignOwner: the path belongs to another uid than the caller's.
var ErrForeignOwner = errors.New("is owned by another user")

// ForeignOwnerError names the path and its owner. It matches
// ErrForeignOwner.
type ForeignOwnerError struct {
	Path string
	UID  int
	// Caller is the uid that refused to act.
	Caller int
}

func (e *ForeignOwnerError) Error() string {
	return fmt.Sprintf("%s %s (%s, not uid %d)", e.Path, ErrForeignOwner, OwnerName(e.UID), e.Caller)
}

// Is makes errors.Is(err, ErrForeignOwner) true.
func (e *ForeignOwnerError) Is(target error) bool { return target == ErrForeignOwner }

// OwnerName is the login name of uid, or "uid N" when it has none.
func OwnerName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// User is a name for uid that `sudo -u` accepts: the login name, or #N.
func User(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}
