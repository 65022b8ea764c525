package main

import (
	"strings"
	"unicode"
)

// hermesEnvValue is v as the value of one `env` line, such that Hermes's
// command secret source reads back exactly v. That parser (upstream
// agent/secret_sources/command.py, in Hermes releases after 0.19.0) strips
// each line and then the value of Python whitespace, and removes one layer
// of matching surrounding quotes ('…' or "…"), with no escapes. So a value
// those rules would change (whitespace at either end, or quotes around it)
// is wrapped in double quotes, which the parser removes again; any other
// value is printed as it is. A value with a line break is never printed
// (envLineOK).
func hermesEnvValue(v string) string {
	if strings.TrimFunc(v, pyIsSpace) != v || quotedPy(v) {
		return `"` + v + `"`
	}
	return v
}

// quotedPy: at least two characters, the first and last the same quote.
func quotedPy(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}

// pyIsSpace is Python's str.isspace for one rune: Unicode White_Space plus
// the separators U+001C-U+001F, which Python's strip() removes too.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}
