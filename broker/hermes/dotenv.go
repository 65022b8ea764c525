package hermes

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/faultpoint"
	"github.com/hermes-keys/hermes-keys/internal/lazyre"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// MaxEnvSize is the largest .env accepted (Hermes's are a few KB).
const MaxEnvSize = 4 << 20

// EnvFile is a .env file parsed as python-dotenv parses it (the parser
// Hermes's load_hermes_dotenv uses), kept as the exact bytes of each
// binding so that Bytes returns the file unchanged except for the
// bindings removed or set.
type EnvFile struct {
	lines []envLine
	eol   string
}

// envLine is one python-dotenv binding: the text from the end of the
// previous one through its own end of line. Leading blank lines belong to
// it (python-dotenv's own model); lead is their length.
type envLine struct {
	text     []byte
	lead     int // bytes of leading white space (blank lines, indentation)
	key      string
	value    string
	hasKey   bool // a binding (not a comment, blank or unparsable line)
	hasValue bool // KEY=... rather than a bare KEY
	export   bool
}

// EnvVar is one binding with a value.
type EnvVar struct {
	Key   string
	Value string
	// Export: the line starts with "export ".
	Export bool
	// Interpolates: the value holds a ${VAR} reference that python-dotenv
	// expands, so what Hermes sees differs from Value.
	Interpolates bool
}

// ParseEnv parses .env text. It never fails: a line python-dotenv cannot
// parse is kept as it is and, like python-dotenv, ignored. A leading byte
// order mark is dropped (it would otherwise become part of the first key).
func ParseEnv(data []byte) *EnvFile {
	data = bytes.TrimPrefix(data, bom)
	f := &EnvFile{eol: "\n"}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		f.eol = "\r\n"
	}
	for pos := 0; pos < len(data); {
		l, next := parseEnvBinding(data, pos)
		f.lines = append(f.lines, l)
		pos = next
	}
	return f
}

// ReadEnvFile reads and parses a .env file; a missing file is empty.
func ReadEnvFile(path string) (*EnvFile, error) {
	b, err := readSmall(path, MaxEnvSize)
	if err != nil {
		return nil, docError(path, err)
	}
	return ParseEnv(b), nil
}

// WriteEnvFile writes f atomically with mode 0600, as WriteFile does (Hermes's
// own save_env_value also writes a temp file, fsyncs and renames; it takes
// no lock). Its steps are the fault points FaultEnvTempWritten and
// FaultEnvRenamed, so crash tests can name .env writes apart.
func WriteEnvFile(path string, f *EnvFile) error {
	if err := checkDocLink(path); err != nil { // a link only to the caller's file
		return fmt.Errorf("%s: %w", path, err)
	}
	return hermesError(atomicfile.Write(path, f.Bytes(), envWriteOptions))
}

// Crash points of WriteEnvFile.
const (
	FaultEnvTempWritten = "hermes-env-write:temp-written"
	FaultEnvRenamed     = "hermes-env-write:renamed"
)

var envWriteOptions = func() atomicfile.Options {
	o := writeOptions
	o.Hook = func(step string) {
		switch step {
		case atomicfile.StepTempSynced:
			faultpoint.Hit(FaultEnvTempWritten)
		case atomicfile.StepRenamed:
			faultpoint.Hit(FaultEnvRenamed)
		}
	}
	return o
}()

// Bytes returns the file's text.
func (f *EnvFile) Bytes() []byte {
	n := 0
	for _, l := range f.lines {
		n += len(l.text)
	}
	b := make([]byte, 0, n)
	for _, l := range f.lines {
		b = append(b, l.text...)
	}
	return b
}

// Vars returns every binding that has a value, in file order (a key bound
// twice appears twice; python-dotenv keeps the last).
func (f *EnvFile) Vars() []EnvVar {
	var out []EnvVar
	for _, l := range f.lines {
		if l.hasKey && l.hasValue {
			out = append(out, EnvVar{Key: l.key, Value: l.value, Export: l.export, Interpolates: interpolates(l.value)})
		}
	}
	return out
}

// Lookup returns the value python-dotenv ends up with for key (the last
// binding), before ${VAR} expansion.
func (f *EnvFile) Lookup(key string) (string, bool) {
	for i := len(f.lines) - 1; i >= 0; i-- {
		if l := f.lines[i]; l.hasKey && l.key == key {
			return l.value, l.hasValue
		}
	}
	return "", false
}

// SecretEnvKeys returns the keys whose values are secrets to move out of
// the file: secret-shaped names (IsSecretEnvKey) whose final value is
// usable (not a placeholder, not an op:// reference, not expanded by
// python-dotenv), sorted.
func (f *EnvFile) SecretEnvKeys() []string { return f.SealableKeys(IsSecretEnvKey) }

// SealableKeys is SecretEnvKeys with the caller's rule for which names are
// secrets (a sealed .env also counts every name the vault holds a record
// of, whatever its shape).
func (f *EnvFile) SealableKeys(isSecret func(name string) bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range f.lines {
		if !l.hasKey || seen[l.key] || !isSecret(l.key) {
			continue
		}
		seen[l.key] = true
		v, ok := f.Lookup(l.key)
		if !ok || !UsableSecret(v) || strings.HasPrefix(strings.TrimSpace(v), "op://") || interpolates(v) {
			continue
		}
		out = append(out, l.key)
	}
	sort.Strings(out)
	return out
}

// Remove deletes every binding of the given keys and returns how many
// lines went. Blank lines before a removed binding stay; everything else
// is untouched. If the result would read differently for any other key
// (a broken quote elsewhere in the file reaching across the removed
// lines), nothing is removed and the error wraps ErrEnvLayout.
func (f *EnvFile) Remove(keys ...string) (int, error) {
	drop := map[string]bool{}
	for _, k := range keys {
		drop[k] = true
	}
	before := f.snapshot()
	saved := append([]envLine(nil), f.lines...)
	n := 0
	for i := range f.lines {
		l := &f.lines[i]
		if !l.hasKey || !drop[l.key] {
			continue
		}
		// Keep the blank lines before it, not its indentation.
		keepTo := bytes.LastIndexAny(l.text[:l.lead], "\r\n") + 1
		*l = envLine{text: append([]byte(nil), l.text[:keepTo]...)}
		n++
	}
	for k := range drop {
		delete(before, k)
	}
	if err := f.verify(before); err != nil {
		f.lines = saved
		return 0, err
	}
	return n, nil
}

// envMarkerPrefix starts the comment line a sealed .env carries: the
// .env counterpart of auth.json's hermes_keys member. Hermes keeps comment
// lines through its own saves (it strips their surrounding white space,
// which the marker has none of), so a key that was materialised and is gone
// while the marker names this vault was removed by Hermes.
const envMarkerPrefix = "# hermes-keys: secret keys sealed in vault "

// EnvMarkerLine is the marker comment for vaultID (no line ending).
func EnvMarkerLine(vaultID string) string {
	return envMarkerPrefix + vaultID + "; run Hermes with: " + DefaultRun
}

// markerIndex returns the index of the marker comment line, or -1.
func (f *EnvFile) markerIndex() int {
	for i, l := range f.lines {
		if !l.hasKey && bytes.HasPrefix(bytes.TrimLeft(l.text[l.lead:], " \t"), []byte(envMarkerPrefix)) {
			return i
		}
	}
	return -1
}

// MarkerVaultID returns the vault id the marker comment names, "" when the
// file has no marker.
func (f *EnvFile) MarkerVaultID() string {
	i := f.markerIndex()
	if i < 0 {
		return ""
	}
	l := f.lines[i]
	rest := bytes.TrimLeft(l.text[l.lead:], " \t")[len(envMarkerPrefix):]
	end := bytes.IndexAny(rest, "; \t\r\n")
	if end < 0 {
		end = len(rest)
	}
	return string(rest[:end])
}

// SetMarker makes the file carry the marker of vaultID: in place of
// another marker, else as a new first line. Every other line stays byte
// for byte. It reports whether the file changed.
func (f *EnvFile) SetMarker(vaultID string) bool {
	if f.MarkerVaultID() == vaultID {
		return false
	}
	line := []byte(EnvMarkerLine(vaultID))
	if i := f.markerIndex(); i >= 0 {
		l := &f.lines[i]
		b := append(append(append([]byte(nil), l.text[:l.lead]...), line...), lineEnding(l.text)...)
		*l = envLine{text: b, lead: l.lead}
		return true
	}
	l := envLine{text: append(line, f.eol...)}
	f.lines = append([]envLine{l}, f.lines...)
	return true
}

// RemoveMarker removes the marker comment line (the blank lines before it
// stay) and reports whether there was one.
func (f *EnvFile) RemoveMarker() bool {
	i := f.markerIndex()
	if i < 0 {
		return false
	}
	l := f.lines[i]
	keepTo := bytes.LastIndexAny(l.text[:l.lead], "\r\n") + 1
	f.lines[i] = envLine{text: append([]byte(nil), l.text[:keepTo]...)}
	return true
}

// envVal is a key's final value; ok is false for a bare KEY.
type envVal struct {
	v  string
	ok bool
}

// envState is what python-dotenv ends up with for each key.
type envState map[string]envVal

func (f *EnvFile) snapshot() envState {
	st := envState{}
	for _, l := range f.lines {
		if l.hasKey {
			st[l.key] = envVal{l.value, l.hasValue}
		}
	}
	return st
}

// verify parses the text again and checks it gives exactly want.
func (f *EnvFile) verify(want envState) error {
	got := ParseEnv(f.Bytes()).snapshot()
	if len(got) == len(want) {
		same := true
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	return xerr.WithHint(ErrEnvLayout, "fix the line python-dotenv cannot parse (an unclosed quote), then retry")
}

// Add binds key to value (as Set does) only when the file gives key no
// value, and reports whether it did: a value already in the file is newer
// than the vault's. This is how unmigrate puts a key back.
func (f *EnvFile) Add(key, value string) (bool, error) {
	if _, ok := f.Lookup(key); ok {
		return false, nil
	}
	if err := f.Set(key, value); err != nil {
		return false, err
	}
	return true, nil
}

// Set binds key to value: in place of the last binding of key (keeping an
// "export " prefix and the indentation), or as a new last line. The value
// is quoted so that python-dotenv reads back exactly value. The result is
// parsed again: if any key would read differently than intended (a broken
// quote on an earlier line swallowing the new one), f is left unchanged
// and the error wraps ErrEnvLayout.
func (f *EnvFile) Set(key, value string) error {
	if !validEnvKey(key) {
		return fmt.Errorf("%w: the key is not a plain variable name", ErrEnvValue)
	}
	q, err := FormatEnvValue(value)
	if err != nil {
		return err
	}
	want := f.snapshot()
	want[key] = envVal{value, true}
	for i := len(f.lines) - 1; i >= 0; i-- {
		l := &f.lines[i]
		if !l.hasKey || l.key != key {
			continue
		}
		var b []byte
		b = append(b, l.text[:l.lead]...)
		if l.export {
			b = append(b, "export "...)
		}
		b = append(b, key...)
		b = append(b, '=')
		b = append(b, q...)
		b = append(b, lineEnding(l.text)...)
		saved := *l
		*l = envLine{text: b, lead: l.lead, key: key, value: value, hasKey: true, hasValue: true, export: l.export}
		if err := f.verify(want); err != nil {
			*l = saved
			return err
		}
		return nil
	}
	var b []byte
	if n := len(f.lines); n > 0 {
		last := f.lines[n-1].text
		if len(last) > 0 && last[len(last)-1] != '\n' && last[len(last)-1] != '\r' {
			b = append(b, f.eol...)
		}
	}
	lead := len(b)
	b = append(b, key...)
	b = append(b, '=')
	b = append(b, q...)
	b = append(b, f.eol...)
	f.lines = append(f.lines, envLine{text: b, lead: lead, key: key, value: value, hasKey: true, hasValue: true})
	if err := f.verify(want); err != nil {
		f.lines = f.lines[:len(f.lines)-1]
		return err
	}
	return nil
}

func lineEnding(text []byte) string {
	switch {
	case bytes.HasSuffix(text, []byte("\r\n")):
		return "\r\n"
	case bytes.HasSuffix(text, []byte("\n")):
		return "\n"
	case bytes.HasSuffix(text, []byte("\r")):
		return "\r"
	}
	return ""
}

var envKeyRE = lazyre.New(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func validEnvKey(k string) bool { return envKeyRE.MatchString(k) }

// pyInterpolation is python-dotenv's ${NAME} / ${NAME:-default} pattern.
var pyInterpolation = lazyre.New(`\$\{[^}:]*(?::-[^}]*)?\}`)

func interpolates(v string) bool { return strings.Contains(v, "${") && pyInterpolation.MatchString(v) }

// FormatEnvValue quotes value for a .env line so that python-dotenv, with
// the interpolation Hermes leaves on, reads back exactly value: bare when
// it is plain printable ASCII without quotes, spaces, '#', '$' or '\',
// else single-quoted with '\' and '\” escaped (python-dotenv decodes \\ and
// \' inside single quotes). A value holding a NUL byte, invalid UTF-8 or a
// ${VAR} reference cannot be written and gives ErrEnvValue.
func FormatEnvValue(value string) (string, error) {
	switch {
	case strings.IndexByte(value, 0) >= 0:
		return "", fmt.Errorf("%w: it holds a NUL byte", ErrEnvValue)
	case !utf8.ValidString(value):
		return "", fmt.Errorf("%w: it is not utf-8", ErrEnvValue)
	case interpolates(value):
		return "", fmt.Errorf("%w: python-dotenv would expand its ${...} reference", ErrEnvValue)
	}
	bare := true
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`'"#$\`+"`", c) >= 0 {
			bare = false
			break
		}
	}
	if bare {
		return value, nil
	}
	var b strings.Builder
	b.Grow(len(value) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// --- python-dotenv's parser (dotenv/parser.py), on bytes ---

// pySpaceAt reports whether a Python \s character starts at b[i], and its
// length in bytes.
func pySpaceAt(b []byte, i int) (bool, int) {
	c := b[i]
	if c < utf8.RuneSelf {
		return c == ' ' || c >= '\t' && c <= '\r' || c >= 0x1c && c <= 0x1f, 1
	}
	r, n := utf8.DecodeRune(b[i:])
	if r == utf8.RuneError && n <= 1 {
		return false, 1
	}
	return isPySpace(r), n
}

// inlineSpaceAt is [^\S\r\n]: white space other than CR and LF.
func inlineSpaceAt(b []byte, i int) (bool, int) {
	if b[i] == '\r' || b[i] == '\n' {
		return false, 1
	}
	return pySpaceAt(b, i)
}

func skipSpace(b []byte, i int, inline bool) int {
	for i < len(b) {
		var ok bool
		var n int
		if inline {
			ok, n = inlineSpaceAt(b, i)
		} else {
			ok, n = pySpaceAt(b, i)
		}
		if !ok {
			break
		}
		i += n
	}
	return i
}

// restOfLine is `[^\r\n]*(?:\r|\n|\r\n)?` (which takes a lone "\r" of a
// "\r\n": python-dotenv's alternation tries "\r" first).
func restOfLine(b []byte, i int) int {
	for i < len(b) && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	if i < len(b) {
		i++
	}
	return i
}

// parseEnvBinding is parse_binding: it returns the binding starting at pos
// and the position after it.
func parseEnvBinding(b []byte, pos int) (envLine, int) {
	start := pos
	i := skipSpace(b, pos, false)
	l := envLine{lead: i - start}
	if i >= len(b) {
		l.text = b[start:i]
		return l, i
	}
	fail := func(at int) (envLine, int) {
		end := restOfLine(b, at)
		return envLine{text: b[start:end], lead: l.lead}, end
	}
	// export[^\S\r\n]+
	if bytes.HasPrefix(b[i:], []byte("export")) && i+6 < len(b) {
		if ok, _ := inlineSpaceAt(b, i+6); ok {
			l.export = true
			i = skipSpace(b, i+6, true)
		}
	}
	// The key.
	switch {
	case i >= len(b): // "export " and nothing after it
		return fail(i)
	case b[i] == '#':
		// A comment: no key.
	case b[i] == '\'':
		j := bytes.IndexByte(b[i+1:], '\'')
		if j <= 0 { // '([^']+)' needs one character at least
			return fail(i)
		}
		l.key, l.hasKey = string(b[i+1:i+1+j]), true
		i += j + 2
	default:
		j := i
		for j < len(b) && b[j] != '=' && b[j] != '#' {
			if sp, _ := pySpaceAt(b, j); sp {
				break
			}
			_, n := pySpaceAt(b, j)
			j += n
		}
		if j == i {
			return fail(i)
		}
		l.key, l.hasKey = string(b[i:j]), true
		i = j
	}
	i = skipSpace(b, i, true)
	if i < len(b) && b[i] == '=' {
		l.hasValue = true
		i = skipSpace(b, i+1, true)
		var ok bool
		if l.value, i, ok = parseEnvValue(b, i); !ok {
			return fail(i)
		}
	}
	// (?:[^\S\r\n]*#[^\r\n]*)?
	if j := skipSpace(b, i, true); j < len(b) && b[j] == '#' {
		for j < len(b) && b[j] != '\r' && b[j] != '\n' {
			j++
		}
		i = j
	}
	// [^\S\r\n]*(?:\r\n|\n|\r|$)
	j := skipSpace(b, i, true)
	switch {
	case j >= len(b):
	case b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n':
		j += 2
	case b[j] == '\n' || b[j] == '\r':
		j++
	default:
		return fail(i)
	}
	if !l.hasKey {
		l.export = false
	}
	l.text = b[start:j]
	return l, j
}

// parseEnvValue is parse_value from b[i]; ok false means the quoted value
// does not close (python-dotenv then drops the line).
func parseEnvValue(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] == '\n' || b[i] == '\r' {
		return "", i, true
	}
	switch q := b[i]; q {
	case '\'', '"':
		end, ok := quotedEnd(b, i+1, q)
		if !ok {
			return "", i, false
		}
		return decodeEnvEscapes(b[i+1:end], q), end + 1, true
	}
	// Unquoted: the rest of the line, minus an inline comment (white
	// space then '#') and trailing white space.
	j := i
	for j < len(b) && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	part := b[i:j]
	for k := 0; k < len(part); {
		sp, n := pySpaceAt(part, k)
		if !sp {
			k += n
			continue
		}
		e := skipSpace(part, k, false)
		if e < len(part) && part[e] == '#' {
			part = part[:k]
			break
		}
		k = e
	}
	return string(bytes.TrimRightFunc(part, isPySpace)), j, true
}

// quotedEnd finds the closing quote of '((?:\\'|[^'])*)' (or the double
// quoted form) the way Python's backtracking regex does: a backslash
// followed by the quote escapes it; with no unescaped quote left, the
// quote of the last escaped pair closes the value.
func quotedEnd(b []byte, i int, q byte) (int, bool) {
	lastPair := -1
	for j := i; j < len(b); {
		switch {
		case b[j] == '\\' && j+1 < len(b) && b[j+1] == q:
			lastPair = j + 1
			j += 2
		case b[j] == q:
			return j, true
		default:
			j++
		}
	}
	if lastPair >= 0 {
		return lastPair, true
	}
	return 0, false
}

// decodeEnvEscapes is python-dotenv's decode_escapes: inside single quotes
// \\ and \' are decoded; inside double quotes \\ \' \" \a \b \f \n \r \t \v.
func decodeEnvEscapes(s []byte, q byte) string {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			e := s[i+1]
			var r byte
			switch {
			case e == '\\' || e == '\'':
				r = e
			case q == '"' && e == '"':
				r = e
			case q == '"':
				if k := strings.IndexByte("abfnrtv", e); k >= 0 {
					r = "\a\b\f\n\r\t\v"[k]
				}
			}
			if r != 0 {
				out.WriteByte(r)
				i++
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// --- which keys are secrets ---

// KnownSecretEnvKeys are .env keys Hermes marks as passwords or reads as
// provider credentials (hermes_cli/config.py OPTIONAL_ENV_VARS with
// "password": True, _EXTRA_ENV_KEYS, the provider registry; reference §6).
// Every one of them also matches Hermes's key rule; the list documents them
// and keeps them secret should the rule ever change.
var KnownSecretEnvKeys = []string{
	"ANTHROPIC_API_KEY", "ANTHROPIC_TOKEN", "API_SERVER_KEY", "AZURE_FOUNDRY_API_KEY",
	"CLAUDE_CODE_OAUTH_TOKEN", "COPILOT_GITHUB_TOKEN", "DASHSCOPE_API_KEY", "DEEPSEEK_API_KEY",
	"DISCORD_BOT_TOKEN", "ELEVENLABS_API_KEY", "EXA_API_KEY", "FAL_KEY", "FIRECRAWL_API_KEY",
	"GEMINI_API_KEY", "GH_TOKEN", "GITHUB_TOKEN", "GLM_API_KEY", "GOOGLE_API_KEY", "HF_TOKEN",
	"KIMI_API_KEY", "MATRIX_ACCESS_TOKEN", "MINIMAX_API_KEY", "NVIDIA_API_KEY", "OLLAMA_API_KEY",
	"OPENAI_API_KEY", "OPENROUTER_API_KEY", "OP_SERVICE_ACCOUNT_TOKEN", "SLACK_APP_TOKEN",
	"SLACK_BOT_TOKEN", "SUDO_PASSWORD", "TAVILY_API_KEY", "TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET",
	"XAI_API_KEY", "ZAI_API_KEY",
}

// IsSecretEnvKey reports whether a .env key holds a secret: a known
// provider key, or a name Hermes's classifier calls secret-shaped
// (OPENROUTER_API_KEY → openrouter_api_key ends in _api_key).
func IsSecretEnvKey(name string) bool {
	return slices.Contains(KnownSecretEnvKeys, name) || classifyNormalized(strings.ToLower(strings.TrimSpace(name)))
}

// isPlaceholderSecret: values Hermes treats as unset (has_usable_secret).
func isPlaceholderSecret(v string) bool {
	switch v {
	case "*", "**", "***", "changeme", "your_api_key", "your_api_key_here",
		"your-api-key", "placeholder", "example", "dummy", "null", "none":
		return true
	}
	return false
}

// UsableSecret is Hermes's has_usable_secret: at least 4 characters after
// trimming, and not a placeholder such as "***" or "changeme".
func UsableSecret(v string) bool {
	c := strings.TrimFunc(v, isPySpace)
	return utf8.RuneCountInString(c) >= 4 && !isPlaceholderSecret(strings.ToLower(c))
}
