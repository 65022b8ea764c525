package main

import (
	"bytes"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// BenchmarkNewRoot is what building the whole cobra tree costs each
// process, before any command runs.
func BenchmarkNewRoot(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		newRoot(&App{})
	}
}

// BenchmarkMainVersion is `hermes-keys version` in process: tree, flag
// parsing and the command.
func BenchmarkMainVersion(b *testing.B) {
	b.ReportAllocs()
	var out bytes.Buffer
	ios := &iox.Streams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out}
	for b.Loop() {
		out.Reset()
		if Main(ios, iox.MapEnv(nil), []string{"version"}) != 0 {
			b.Fatal(out.String())
		}
	}
}
