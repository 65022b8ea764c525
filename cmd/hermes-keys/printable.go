package main

import (
	"strconv"
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
