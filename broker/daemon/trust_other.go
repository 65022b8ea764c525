//go:build !unix

package daemon

import "os"

func fileUID(fi os.FileInfo) (int, bool) { return -1, false }
