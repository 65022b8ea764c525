package codex

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxFileSize caps every file read from CODEX_HOME. A Codex login is about
// 5 KB; anything over a mebibyte is not one.
const maxFileSize = 1 << 20

// errTooLarge and errNotRegular are refusals of the file as a whole; they
// are not retried.
var (
	errTooLarge   = errors.New("larger than the 1 MiB limit")
	errNotRegular = errors.New("not a regular file")
)

// readFileRO reads a regular file opened with O_RDONLY only, refusing one
// larger than max without reading it. A missing file is fs.ErrNotExist.
func readFileRO(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w (%d bytes)", errTooLarge, fi.Size())
	}
	// The file may grow between Stat and Read; never read past the limit.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}

// describeFileErr turns a read error into text without the OS's wording
// for paths we already name.
func describeFileErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, errTooLarge), errors.Is(err, errNotRegular):
		return err.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
