//go:build unix && !linux

package safefs

// openat opens name in dir with O_NOFOLLOW (set by the caller); there is
// no openat2 outside Linux.
func openat(dir int, name string, flag int, perm uint32) (int, error) {
	return openatNoFollow(dir, name, flag, perm)
}
