// Package lazyre is a regular expression compiled on first use.
//
// It promises that declaring one costs nothing at program start: a
// package-level *Regexp made with New is static data, and the pattern is
// compiled (once, safely from many goroutines) the first time it is
// matched. A bad pattern panics then, as regexp.MustCompile would at init;
// the tests that use each pattern catch it.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a pattern compiled on first use.
type Regexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// New returns a pattern that compiles expr when first used. Use it as
// `var x = lazyre.New(...)`: the call is inlined to a static composite, so
// the declaration does no work at init.
func New(expr string) *Regexp { return &Regexp{expr: expr} }

// Re returns the compiled pattern.
func (r *Regexp) Re() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.expr) })
	return r.re
}

// MatchString is regexp.Regexp.MatchString.
func (r *Regexp) MatchString(s string) bool { return r.Re().MatchString(s) }

// FindAllSubmatch is regexp.Regexp.FindAllSubmatch.
func (r *Regexp) FindAllSubmatch(b []byte, n int) [][][]byte {
	return r.Re().FindAllSubmatch(b, n)
}

// String returns the source text.
func (r *Regexp) String() string { return r.expr }

// Match is regexp.Regexp.Match.
func (r *Regexp) Match(b []byte) bool { return r.Re().Match(b) }

// FindSubmatch is regexp.Regexp.FindSubmatch.
func (r *Regexp) FindSubmatch(b []byte) [][]byte { return r.Re().FindSubmatch(b) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Re().FindStringSubmatch(s) }

// FindString is regexp.Regexp.FindString.
func (r *Regexp) FindString(s string) string { return r.Re().FindString(s) }

// ReplaceAllString is regexp.Regexp.ReplaceAllString.
func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.Re().ReplaceAllString(src, repl)
}
