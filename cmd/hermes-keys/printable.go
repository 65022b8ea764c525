package main

import (
	"strconv"
	"strings"
	"unicode"
)

// printableName is a name read from a store (a provider, a pool, a record
// key, a .env key) as it may be printed on a terminal: unchanged when every
// rune is graphic, else quoted with escapes, so that no store can colour
// the terminal, move the cursor or forge a line of output.
func printableName(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}

// printableText is a message that may quote such names (an error, a hint):
// lines stay lines, every other non-graphic rune is shown escaped.
func printableText(s string) string {
	clean := true
	for _, r := range s {
		if r != '\n' && r != '\t' && !unicode.IsGraphic(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\n' || r == '\t' || unicode.IsGraphic(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToGraphic(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
