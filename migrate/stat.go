package migrate

import (
	"fmt"
	"os"
)

// statKey is a cheap identity of a file's current content: size,
// modification time and file identity where the platform gives one.
func statKey(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%d:%d:%s", fi.Size(), fi.ModTime().UnixNano(), fileID(fi))
}
