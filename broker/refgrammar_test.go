package broker

import (
	"regexp"
	"testing"
)

// The REF grammar's plain loops against the patterns they replaced: any
// input where they disagree is a bug in the loops.
var refPatterns = []struct {
	name  string
	plain func(string) bool
	re    *regexp.Regexp
}{
	{"IsEnvName", IsEnvName, regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)},
	{"idChars", idChars, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-:@]*$`)},
	{"poolPart", poolPart, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]*/[A-Za-z0-9_\-:@.]+$`)},
}

var refGrammarSeeds = []string{
	"", "A", "_", "9", "a9_", "9a", "OPENROUTER_API_KEY", "A-B", "A.B", "é",
	"openai-codex", "a:b@c", "-x", "x-", "anthropic/0a1b2c", "anthropic/", "/x",
	"a/b/c", "a_b-c/x:y@z.w", "a.b/c", "a/.", "a/-", "a\n", "a/b\n", "Z/Z", "a b",
}

func TestRefGrammarMatchesPatterns(t *testing.T) {
	for _, p := range refPatterns {
		for _, s := range refGrammarSeeds {
			if got, want := p.plain(s), p.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the pattern says %v", p.name, s, got, want)
			}
		}
	}
}

func FuzzRefGrammar(f *testing.F) {
	for _, s := range refGrammarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range refPatterns {
			if got, want := p.plain(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, the pattern says %v", p.name, s, got, want)
			}
		}
	})
}
