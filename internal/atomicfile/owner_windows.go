//go:build windows

package atomicfile

import (
	"io/fs"
	"os"
)

type fileOwner struct{}

func ownerOf(fs.FileInfo) *fileOwner    { return nil }
func (*fileOwner) apply(*os.File) error { return nil }

func isReadOnlyFS(error) bool { return false }
