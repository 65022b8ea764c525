// Command pack writes the release archives byte for byte the same on every
// run: entries sorted by name, owner 0:0 with no names, modes reduced to
// 0755 (directories and executables) or 0644, every time set to
// SOURCE_DATE_EPOCH, gzip without a name or time. scripts/release runs it:
//
//	go run ./internal/cmd/pack tar.gz|zip OUT DIR
//
// The archive holds DIR's base name as its top directory and everything
// under it. Only regular files and directories are packed: a symlink or
// device in a release tree is a mistake, and is refused.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fmt.Fprintf(os.Stderr, "pack: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, epoch string) error {
	if len(args) != 3 || (args[0] != "tar.gz" && args[0] != "zip") {
		return errors.New("usage: pack tar.gz|zip OUT DIR")
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH must be a unix time (the commit's): %w", err)
	}
	entries, err := collect(args[2])
	if err != nil {
		return err
	}
	// Written next to OUT and renamed: a failed run leaves no half archive.
	tmp, err := os.CreateTemp(filepath.Dir(args[1]), ".pack-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	mtime := time.Unix(sec, 0).UTC()
	if args[0] == "zip" {
		err = writeZip(tmp, entries, mtime)
	} else {
		err = writeTarGz(tmp, entries, mtime)
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), args[1])
}

type entry struct {
	name string // slash-separated, under the top directory
	src  string // "" for a directory
	mode int64
}

// collect lists DIR's tree in the order WalkDir gives, which is lexical:
// the archive order does not depend on the file system.
func collect(dir string) ([]entry, error) {
	dir = filepath.Clean(dir)
	top := filepath.Base(dir)
	var out []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(top, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			out = append(out, entry{name: name + "/", mode: 0o755})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			out = append(out, entry{name: name, src: p, mode: mode})
		default:
			return fmt.Errorf("%s: not a regular file or directory", p)
		}
		return nil
	})
	return out, err
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	// gzip.Writer's header has no name and a zero time unless set.
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatUSTAR}
		if e.src == "" {
			h.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		if e.src == "" {
			h.Method = zip.Store
		}
		h.SetMode(fs.FileMode(e.mode))
		if e.src == "" {
			h.SetMode(fs.ModeDir | 0o755)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if e.src == "" {
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
