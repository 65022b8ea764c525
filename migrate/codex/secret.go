package codex

import (
	"errors"
	"fmt"
	"log/slog"
)

// Secret holds a token or key. Every way of printing it (fmt verbs, String,
// GoString, slog) shows "[redacted]", and JSON or text marshalling fails, so
// a secret cannot reach a log, an error or a file by accident. Reveal is the
// one deliberate way to the value.
type Secret struct{ v string }

const redacted = "[redacted]"

// errMarshalSecret is returned by the marshalling methods.
var errMarshalSecret = errors.New("codex: a secret is not marshalled; use Reveal deliberately")

func newSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal compares two secrets.
func (s Secret) Equal(o Secret) bool { return s.v == o.v }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON refuses: secrets are written only by code that calls Reveal.
func (s Secret) MarshalJSON() ([]byte, error) { return nil, errMarshalSecret }

// MarshalText refuses, for the same reason.
func (s Secret) MarshalText() ([]byte, error) { return nil, errMarshalSecret }

// Tokens is a ChatGPT login's token set as Codex stores it.
type Tokens struct {
	IDToken      Secret
	AccessToken  Secret
	RefreshToken Secret
	// AccountID is the ChatGPT account (workspace) id; metadata, not a
	// secret, but shown masked in summaries.
	AccountID string
}
