//go:build !unix

package codex

import "os"

// openFlags opens for reading only.
const openFlags = os.O_RDONLY
