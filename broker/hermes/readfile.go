package hermes

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/hermes-keys/hermes-keys/internal/safefs"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// readSmall reads a regular file of at most max bytes. A missing file
// gives nil, nil. A FIFO, directory or device gives ErrNotRegular without
// blocking; a larger file gives ErrTooLarge.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w (%d bytes; the limit is %d)", ErrTooLarge, fi.Size(), max)
	}
	// Read at most max+1 bytes: the file may grow while we read it.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, max)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// openRegular opens path for reading, following symbolic links, without
// ever blocking on a FIFO and without opening anything but a regular file.
func openRegular(path string) (*os.File, error) {
	if err := checkDocLink(path); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	// The file may be swapped between Stat and open; openNonBlocking and
	// the caller's fstat catch that.
	return openNonBlocking(path)
}

// checkDocLink follows a symbolic link at a secret document only to a
// file of the caller's (for a dangling link: into a directory of the
// caller's). A link to another user's file (auth.json ->
// /home/victim/.hermes/auth.json) would read or replace their tokens.
func checkDocLink(path string) error {
	err := safefs.CheckLink(path)
	var fe *safefs.ForeignOwnerError
	if errors.As(err, &fe) {
		target, _ := os.Readlink(path)
		return xerr.WithHint(fmt.Errorf("a symbolic link to %s's file %s, which hermes-keys does not follow (%w)", safefs.OwnerName(fe.UID), target, safefs.ErrForeignOwner),
			"replace the link by a copy of the file you own, or run hermes-keys as the user who owns its target")
	}
	return err
}

func notRegular(m fs.FileMode) error {
	what := "a special file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a fifo"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%w (it is %s)", ErrNotRegular, what)
}

// ReadDoc reads and parses a JSON document such as auth.json (see
// ParseDoc for what is refused). A missing file is the empty document.
// Errors name the file and carry a hint where there is a remedy.
func ReadDoc(path string) (*Object, error) {
	b, err := readSmall(path, MaxDocSize)
	if err != nil {
		return nil, docError(path, err)
	}
	if b == nil {
		return &Object{}, nil
	}
	doc, err := ParseDoc(b)
	if err != nil {
		return nil, docError(path, err)
	}
	return doc, nil
}

func docError(path string, err error) error {
	e := fmt.Errorf("%s: %w", path, err)
	switch {
	case errors.Is(err, ErrTooLarge):
		return xerr.WithHint(e, "Hermes's stores are a few kilobytes; move the file aside and check what wrote it")
	case errors.Is(err, ErrNotRegular):
		return xerr.WithHint(e, "the path must be a regular file (a symbolic link to one is fine); move whatever is there aside")
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotObject):
		return xerr.WithHint(e, "Hermes would set this file aside as .corrupt and start empty; restore it from state-snapshots/ or log in again, then retry")
	}
	return e
}
