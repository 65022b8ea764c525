package safefs

import (
	"errors"

	"golang.org/x/sys/unix"
)

// openat2 is unix.Openat2; a test replaces it to see the ENOSYS fallback.
var openat2 = unix.Openat2

// openat opens name in dir without following a link: openat2 with
// RESOLVE_NO_SYMLINKS where the kernel has it (Linux 5.6+), else openat
// with O_NOFOLLOW (which, for a single component, refuses the same).
// Only ENOSYS means "no openat2"; any other error is the file's answer.
func openat(dir int, name string, flag int, perm uint32) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flag), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH}
	if flag&unix.O_CREAT != 0 {
		how.Mode = uint64(perm)
	}
	for {
		fd, err := openat2(dir, name, how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if errors.Is(err, unix.ENOSYS) {
			break
		}
		return fd, err
	}
	return openatNoFollow(dir, name, flag, perm)
}
