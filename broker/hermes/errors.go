package hermes

import "errors"

// Errors a caller can test for with errors.Is. The ones about a document's
// content (ErrTruncated, ErrEmpty, ErrInvalidUTF8, ErrTooDeep) also match
// ErrCorrupt: Hermes would treat such a file as unparsable.
var (
	// ErrCorrupt: the file is not valid JSON.
	ErrCorrupt = errors.New("not valid json")
	// ErrTruncated: the JSON ends before its value is complete.
	ErrTruncated = wrapSentinel(ErrCorrupt, "truncated")
	// ErrEmpty: the file holds nothing but whitespace.
	ErrEmpty = wrapSentinel(ErrCorrupt, "empty")
	// ErrInvalidUTF8: the file is not UTF-8.
	ErrInvalidUTF8 = wrapSentinel(ErrCorrupt, "invalid utf-8")
	// ErrTooDeep: arrays and objects are nested deeper than MaxDepth.
	ErrTooDeep = wrapSentinel(ErrCorrupt, "nested too deep")
	// ErrNotObject: valid JSON whose top level is not an object ([] for
	// instance), or a place that must hold an object and does not.
	ErrNotObject = errors.New("not a json object")
	// ErrTooLarge: the file is larger than the cap for its kind.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular: a directory, FIFO, device or socket where a regular
	// file belongs.
	ErrNotRegular = errors.New("not a regular file")
	// ErrLockTimeout: the lock was still held by someone else at the
	// deadline. Errors wrapping it carry exit code xerr.ExitLockTimeout.
	ErrLockTimeout = errors.New("timed out waiting for the hermes store lock")
	// ErrBadProfile: a profile name Hermes would refuse (it could name a
	// path outside <root>/profiles).
	ErrBadProfile = errors.New("invalid profile name")
	// ErrNoProfile: the profile named does not exist (no directory under
	// <root>/profiles).
	ErrNoProfile = errors.New("profile does not exist")
	// ErrShape: a document whose known members have a shape the operation
	// cannot work with (credential_pool.<provider> that is not a list while
	// restoring an entry into it, for instance).
	ErrShape = errors.New("unexpected store shape")
	// ErrEnvValue: a value python-dotenv cannot read back exactly (a NUL
	// byte, or a ${VAR} reference it would expand).
	ErrEnvValue = errors.New("value cannot be written to .env")
	// ErrEnvLayout: a change to .env that would not read back as intended,
	// because a line python-dotenv cannot parse (an unclosed quote) reaches
	// across it.
	ErrEnvLayout = errors.New(".env change would not read back as written")
)

type sentinel struct {
	parent error
	msg    string
}

func wrapSentinel(parent error, msg string) error { return &sentinel{parent, msg} }
func (s *sentinel) Error() string                 { return s.parent.Error() + ": " + s.msg }
func (s *sentinel) Unwrap() error                 { return s.parent }
