package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker"
)

// envLineOK says whether NAME=value may be printed as one line of `env`.
// The name must be a shell variable name (^[A-Za-z_][A-Za-z0-9_]*$) and
// the value hold no line break or NUL, whatever it came from (a vault
// record, or a broker daemon's answer): otherwise a name or value could
// add lines of its own, such as HTTPS_PROXY=..., to what Hermes loads. A
// refused entry is named on errOut (escaped), never its value.
func envLineOK(errOut io.Writer, name, value string) bool {
	if !broker.IsEnvName(name) {
		fmt.Fprintf(errOut, "warning: env:%s is not a valid variable name; skipped\n", printableName(name))
		return false
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		fmt.Fprintf(errOut, "warning: env:%s spans lines or holds a NUL; skipped\n", name)
		return false
	}
	return true
}
