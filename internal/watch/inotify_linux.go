package watch

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const mask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB

// start watches dirs with inotify. A directory that does not exist yet is
// covered by a poller alongside.
func start(ctx context.Context, dirs []string, opts Options, signal func()) (func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, d := range dirs {
		if _, err := unix.InotifyAddWatch(fd, d, mask); err != nil {
			missing = append(missing, d)
		}
	}
	if len(missing) == len(dirs) {
		unix.Close(fd)
		return nil, errors.New("no directory could be watched")
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking fd: reads park in the poller
	stopPoll := func() {}
	if len(missing) > 0 {
		stopPoll = startPoll(ctx, missing, opts, signal)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			if n > 0 {
				signal()
			}
		}
	}()
	return func() { stopPoll(); f.Close() }, nil
}
