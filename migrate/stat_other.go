//go:build !unix

package migrate

import "os"

func fileID(os.FileInfo) string { return "" }
