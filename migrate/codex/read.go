package codex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode"

	"filippo.io/age"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// Keyring reads one entry of the OS keyring. A missing entry is an error
// wrapping ErrNotFound. It has no way to write, by design. Callers should
// put a deadline on it (a locked Secret Service can hang).
//
// Get returns the secret as text. Codex writes its entries with the Rust
// keyring crate: on macOS a generic password (service, account), on Linux a
// Secret Service item with attributes service and username, both of which
// zalando/go-keyring reads as is; on Windows a generic credential whose
// target name is "<account>.<service>" and whose blob is UTF-16LE, which
// zalando cannot find (it uses "<service>:<account>" and UTF-8);
// backends.ReadForeign looks such entries up and decodes them.
type Keyring interface {
	Get(ctx context.Context, service, account string) (string, error)
}

// Source names where a login was found.
type Source string

// The three places Codex keeps a login.
const (
	SourceAuthFile Source = "auth.json"              // $CODEX_HOME/auth.json
	SourceKeyring  Source = "keyring"                // keyring "Codex Auth" / "cli|<hash>"
	SourceSecrets  Source = "secrets/codex_auth.age" // age file, passphrase in keyring "codex" / "secrets|<hash>"
)

// Options are the inputs of Read. The zero value reads ~/.codex (from the
// injected environment) without a keyring.
type Options struct {
	// CodexHome overrides $CODEX_HOME (the --codex-home flag). Either must
	// name an existing directory.
	CodexHome string
	// Env is the environment (CODEX_HOME, HOME, USERPROFILE).
	Env iox.Env
	// Keyring reads Codex's keyring entries. Nil means the keyring sources
	// are reported as not checked.
	Keyring Keyring
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between attempts at parsing auth.json; nil means
	// time.Sleep.
	Sleep func(time.Duration)
	// Retries is how many more times a partial auth.json is read again
	// (Codex rewrites it in place, not atomically); 0 means 5, negative
	// means none.
	Retries int
	// RetryDelay is the wait between attempts; 0 means 50ms.
	RetryDelay time.Duration
	// TakeOver says the caller will refresh the login with Login.TakeOver
	// before storing it, so an expired or expiring access token is a
	// warning instead of a refusal.
	TakeOver bool
	// APIKey accepts an API-key-only Codex login, for storing as
	// env:OPENAI_API_KEY (see APIKeyValue). Without it such a login is
	// refused as not importable.
	APIKey bool
}

// SourceReport says what one source held. It never contains a secret.
type SourceReport struct {
	Source   Source `json:"source"`
	Location string `json:"location"`
	// Found: the source holds a login document, usable or not.
	Found bool `json:"found"`
	// Used: this is the login Read returned.
	Used bool `json:"used"`
	// Problem says why the source could not be read, checked or used.
	Problem     string    `json:"problem,omitempty"`
	Mode        Mode      `json:"mode,omitempty"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	// SameAsUsed: it holds the same tokens as the source used.
	SameAsUsed bool `json:"same_as_used,omitempty"`
}

// Login is a validated Codex login. Its tokens are Secrets; print the
// Summary, never the tokens.
type Login struct {
	Mode Mode
	// Tokens is set for a ChatGPT login.
	Tokens Tokens
	// APIKey is OPENAI_API_KEY when the document has one.
	APIKey Secret
	// PAT is the personal access token of a ModePersonalAccessToken login.
	PAT Secret
	// LastRefresh is Codex's last_refresh.
	LastRefresh time.Time
	Summary     Summary

	// checkedAt is when the login was validated (or refreshed); Hermes's
	// own import writes that instant as last_refresh.
	checkedAt time.Time
	// stale: expired or expiring, accepted only for a take-over.
	stale bool
	// sourceWarnings are the warnings about where the login came from, as
	// opposed to those about its tokens; a take-over keeps them.
	sourceWarnings []string
}

// candidate is one source as read.
type candidate struct {
	report SourceReport
	doc    *authDoc
	// state of the source.
	state candState
}

type candState int

const (
	candAbsent      candState = iota // nothing there (or no credential in it)
	candUnavailable                  // could not be checked (no keyring, keyring error)
	candBroken                       // something is there but unusable
	candOK
)

// Read finds the Codex login, reads every source that exists, chooses the
// one Codex's config would use, and validates it. It never writes anything.
// A refusal wraps ErrRefused; other errors (a cancelled context) do not.
func Read(ctx context.Context, opts Options) (*Login, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	h, err := locateHome(opts.CodexHome, opts.Env)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	switch data, err := readFileRO(h.path(configFileName), maxFileSize); {
	case err == nil:
		cfg = parseConfig(data)
	case !errors.Is(err, fs.ErrNotExist):
		cfg.warnings = append(cfg.warnings, "config.toml could not be read ("+describeFileErr(err)+"); Codex's defaults assumed")
	}

	cands := map[Source]*candidate{
		SourceAuthFile: readAuthFile(h, opts),
		SourceKeyring:  readKeyringEntry(ctx, h, opts.Keyring),
		SourceSecrets:  readSecretsFile(ctx, h, opts.Keyring),
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	chosen, warnings, err := choose(cfg, cands)
	if err != nil {
		return nil, err
	}
	srcWarn := append(append([]string(nil), cfg.warnings...), warnings...)

	login, tokWarn, err := validateDoc(chosen, opts, now())
	if err != nil {
		return nil, err
	}
	srcWarn = append(srcWarn, login.sourceWarnings...)
	for _, s := range []Source{SourceAuthFile, SourceKeyring, SourceSecrets} {
		c := cands[s]
		if c == chosen {
			continue
		}
		if c.state == candOK {
			c.report.SameAsUsed = c.doc.sameCredential(chosen.doc)
			if !c.report.SameAsUsed {
				w := fmt.Sprintf("%s also holds a Codex login, a different one; not used", c.report.Location)
				if c.doc.lastRefresh.After(chosen.doc.lastRefresh) {
					w += " although it was refreshed more recently"
				}
				srcWarn = append(srcWarn, w)
			}
		}
		login.Summary.Others = append(login.Summary.Others, c.report)
	}
	login.sourceWarnings = srcWarn
	login.Summary.Warnings = append(append([]string(nil), srcWarn...), tokWarn...)
	return login, nil
}

// choose applies Codex's precedence. file mode reads auth.json only;
// keyring mode the keyring backend chosen by secret_auth_storage; auto the
// keyring backend, then auth.json. When that source holds nothing, the
// newest other login is used, with a warning.
func choose(cfg codexConfig, cands map[Source]*candidate) (*candidate, []string, error) {
	kr := SourceKeyring
	if cfg.secretAuth {
		kr = SourceSecrets
	}
	var order []Source
	switch cfg.mode {
	case StoreFile:
		order = []Source{SourceAuthFile}
	case StoreKeyring:
		order = []Source{kr}
	case StoreAuto:
		order = []Source{kr, SourceAuthFile}
	}
	var warnings []string
	// auto: where both the keyring and auth.json hold a usable login (one
	// is a leftover of a fallback), the newer by last_refresh is the one
	// Codex last wrote; on a tie, Codex's own preference, the keyring.
	if cfg.mode == StoreAuto {
		k, f := cands[kr], cands[SourceAuthFile]
		if k.state == candOK && f.state == candOK {
			use, other := k, f
			if f.doc.lastRefresh.After(k.doc.lastRefresh) {
				use, other = f, k
			}
			use.report.Used = true
			if !use.doc.sameCredential(other.doc) {
				warnings = append(warnings, fmt.Sprintf("auto storage: both %s and %s hold a login; using %s, the newer by last_refresh (%s against %s)",
					k.report.Location, f.report.Location, use.report.Location, stamp(use.doc.lastRefresh), stamp(other.doc.lastRefresh)))
			}
			return use, warnings, nil
		}
	}
	for _, s := range order {
		c := cands[s]
		switch c.state {
		case candOK:
			c.report.Used = true
			return c, warnings, nil
		case candBroken:
			if s == SourceAuthFile {
				// Codex would fail on this file too; a leftover elsewhere
				// is no safer a guess.
				return nil, nil, refuse(ReasonUnreadable, hintFor(ReasonUnreadable), c.report.Location+": "+c.report.Problem)
			}
			then := "Codex itself would fail to load it"
			if cfg.mode == StoreAuto {
				then = "Codex would fall back to auth.json too"
			}
			warnings = append(warnings, fmt.Sprintf("%s is unusable (%s); %s", c.report.Location, c.report.Problem, then))
		case candUnavailable:
			warnings = append(warnings, fmt.Sprintf("%s could not be checked (%s)", c.report.Location, c.report.Problem))
		}
	}
	// Nothing where Codex looks: take the newest login found elsewhere.
	var best *candidate
	for _, s := range []Source{SourceAuthFile, SourceKeyring, SourceSecrets} {
		c := cands[s]
		if c.state == candOK && (best == nil || c.doc.lastRefresh.After(best.doc.lastRefresh)) {
			best = c
		}
	}
	if best != nil {
		w := fmt.Sprintf("config.toml selects %s storage and where it looks holds no login; using the newest login found, in %s, which Codex itself would not use", cfg.mode, best.report.Location)
		if len(order) == 0 {
			w = fmt.Sprintf("config.toml selects ephemeral storage: Codex keeps its current login in process memory only, never on disk; using the newest login left on disk, in %s, from an earlier storage mode, which Codex itself would not use", best.report.Location)
		}
		warnings = append(warnings, w)
		best.report.Used = true
		return best, warnings, nil
	}
	var problems []string
	for _, s := range []Source{SourceAuthFile, SourceKeyring, SourceSecrets} {
		if c := cands[s]; c.state == candBroken {
			problems = append(problems, fmt.Sprintf("%s: %s", c.report.Location, c.report.Problem))
		}
	}
	if len(problems) > 0 {
		return nil, nil, refuse(ReasonUnreadable, hintFor(ReasonUnreadable), problems...)
	}
	detail := "no login in auth.json, the keyring or secrets/codex_auth.age"
	hint := hintFor(ReasonNotLoggedIn)
	if cfg.mode == StoreEphemeral {
		detail = "config.toml selects ephemeral storage: Codex keeps its login in process memory only, so there is nothing on disk or in the keyring to import"
		hint = "set cli_auth_credentials_store = \"file\" or \"keyring\" in Codex's config.toml and run `codex login` again; " + hintOwnLogin
	}
	for _, s := range []Source{SourceKeyring, SourceSecrets} {
		if c := cands[s]; c.state == candUnavailable {
			detail += fmt.Sprintf(" (%s could not be checked: %s)", c.report.Location, c.report.Problem)
			if slices.Contains(order, s) {
				hint = "Codex keeps its login in the keyring, which could not be read: unlock it (or start its service) and retry; " + hint
			}
		}
	}
	return nil, nil, refuse(ReasonNotLoggedIn, hint, detail)
}

// readAuthFile reads auth.json, reading it again when it is empty or not
// whole yet: Codex truncates and rewrites it in place.
func readAuthFile(h home, opts Options) *candidate {
	path := h.path(authFileName)
	c := &candidate{report: SourceReport{Source: SourceAuthFile, Location: path}}
	retries := opts.Retries
	switch {
	case retries == 0:
		retries = 5
	case retries < 0:
		retries = 0
	}
	delay := opts.RetryDelay
	if delay <= 0 {
		delay = 50 * time.Millisecond
	}
	sleep := opts.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	for attempt := 0; ; attempt++ {
		data, err := readFileRO(path, maxFileSize)
		if errors.Is(err, fs.ErrNotExist) {
			// Absent (or deleted by `codex logout` while we waited).
			return c
		}
		c.report.Found = true
		if err != nil {
			c.state, c.report.Problem = candBroken, "cannot be read: "+describeFileErr(err)
			return c
		}
		doc, err := parseAuth(data)
		if err == nil {
			c.accept(doc)
			return c
		}
		if errors.Is(err, errParse) && attempt < retries {
			sleep(delay)
			continue
		}
		c.state, c.report.Problem = candBroken, err.Error()
		if errors.Is(err, errParse) && retries > 0 {
			c.report.Problem += fmt.Sprintf(" (still after %d attempts)", attempt+1)
		}
		return c
	}
}

// accept records a parsed document; one without any credential is what
// Codex reports as logged out.
func (c *candidate) accept(doc *authDoc) {
	c.report.Found = true
	c.report.Mode = doc.resolveMode()
	c.report.LastRefresh = doc.lastRefresh
	if !doc.hasCredential() {
		c.state, c.report.Problem = candAbsent, "holds no credential (logged out)"
		return
	}
	c.doc, c.state = doc, candOK
}

// readKeyringEntry reads the direct keyring entry: the compact JSON of the
// whole auth document.
func readKeyringEntry(ctx context.Context, h home, kr Keyring) *candidate {
	c := &candidate{report: SourceReport{Source: SourceKeyring,
		Location: fmt.Sprintf("keyring entry %q/%q", KeyringService, h.keyringAccount())}}
	if kr == nil {
		c.state, c.report.Problem = candUnavailable, "no keyring access"
		return c
	}
	v, err := kr.Get(ctx, KeyringService, h.keyringAccount())
	switch {
	case errors.Is(err, ErrNotFound):
		return c
	case err != nil:
		c.state, c.report.Problem = candUnavailable, "keyring error: "+err.Error()
		return c
	}
	c.report.Found = true
	if len(v) > maxFileSize {
		c.state, c.report.Problem = candBroken, errTooLarge.Error()
		return c
	}
	doc, err := parseAuth([]byte(v))
	if err != nil {
		c.state, c.report.Problem = candBroken, err.Error()
		return c
	}
	c.accept(doc)
	return c
}

// secretsDoc is the decrypted secrets/codex_auth.age.
type secretsDoc struct {
	Version int               `json:"version"`
	Secrets map[string]string `json:"secrets"`
}

// readSecretsFile reads secrets/codex_auth.age: an age file encrypted to
// an scrypt passphrase, the passphrase (base64 of 32 random bytes, used as
// is) in keyring "codex"/"secrets|<hash>". It never creates the
// passphrase, as Codex would on first use.
func readSecretsFile(ctx context.Context, h home, kr Keyring) *candidate {
	path := h.path(secretsFileRel)
	c := &candidate{report: SourceReport{Source: SourceSecrets, Location: path}}
	data, err := readFileRO(path, maxFileSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c
	case err != nil:
		c.report.Found = true
		c.state, c.report.Problem = candBroken, "cannot be read: "+describeFileErr(err)
		return c
	}
	c.report.Found = true
	if kr == nil {
		c.state, c.report.Problem = candUnavailable, "no keyring access for its passphrase"
		return c
	}
	pass, err := kr.Get(ctx, SecretsKeyringService, h.secretsAccount())
	switch {
	case errors.Is(err, ErrNotFound):
		c.state, c.report.Problem = candBroken, fmt.Sprintf("its passphrase (keyring %q/%q) is missing", SecretsKeyringService, h.secretsAccount())
		return c
	case err != nil:
		c.state, c.report.Problem = candUnavailable, "keyring error reading its passphrase: "+err.Error()
		return c
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		c.state, c.report.Problem = candBroken, "its passphrase in the keyring is empty"
		return c
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		c.state, c.report.Problem = candBroken, "cannot be decrypted with the keyring passphrase (wrong passphrase or damaged file)"
		return c
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil || len(plain) > maxFileSize {
		c.state, c.report.Problem = candBroken, "decrypts to a damaged or oversized document"
		return c
	}
	var sd secretsDoc
	if err := json.Unmarshal(plain, &sd); err != nil {
		c.state, c.report.Problem = candBroken, "decrypts to something that is not Codex's secrets document"
		return c
	}
	if sd.Version > 1 {
		c.state, c.report.Problem = candBroken, fmt.Sprintf("written by a newer Codex (format version %d)", sd.Version)
		return c
	}
	v, ok := sd.Secrets[secretsAuthName]
	if !ok {
		c.report.Problem = "holds no " + secretsAuthName + " entry (logged out)"
		return c
	}
	doc, err := parseAuth([]byte(v))
	if err != nil {
		c.state, c.report.Problem = candBroken, secretsAuthName+": "+err.Error()
		return c
	}
	c.accept(doc)
	return c
}

// validateDoc turns the chosen document into a Login, or refuses it. The
// login's sourceWarnings are about the document; the warnings returned
// are about its tokens.
func validateDoc(c *candidate, opts Options, now time.Time) (*Login, []string, error) {
	doc := c.doc
	mode := doc.resolveMode()
	sum := Summary{Source: c.report.Source, Location: c.report.Location, Mode: mode,
		LastRefresh: doc.lastRefresh, CheckedAt: now, HasAPIKey: !doc.apiKey.IsZero()}
	var srcWarn, tokWarn []string
	if doc.bom {
		srcWarn = append(srcWarn, "the document starts with a UTF-8 byte order mark, which Codex never writes")
	}
	chatgpt := mode == ModeChatGPT
	if mode == ModeUnknown {
		if doc.tokens != nil {
			chatgpt = true
			srcWarn = append(srcWarn, fmt.Sprintf("auth_mode %s is unknown to Codex (Codex itself would refuse this file, probably written by another tool); treated as a ChatGPT login because it has tokens", safeLabel(doc.authMode)))
		} else {
			return nil, nil, refuse(ReasonNotChatGPT, hintFor(ReasonNotChatGPT), fmt.Sprintf("auth_mode %s is unknown and the login has no ChatGPT tokens", safeLabel(doc.authMode)))
		}
	}
	if mode == ModePersonalAccessToken {
		pat, warn, err := checkPAT(doc.pat)
		if err != nil {
			return nil, nil, err
		}
		sum.Mode = ModePersonalAccessToken
		return &Login{Mode: ModePersonalAccessToken, PAT: pat, LastRefresh: doc.lastRefresh, Summary: sum,
			checkedAt: now, sourceWarnings: srcWarn}, warn, nil
	}
	if !chatgpt || doc.tokens == nil {
		if (mode == ModeAPIKey || mode == ModeChatGPT) && !doc.apiKey.IsZero() {
			if opts.APIKey {
				sum.Mode = ModeAPIKey
				if !strings.HasPrefix(doc.apiKey.Reveal(), "sk-") {
					tokWarn = append(tokWarn, "OPENAI_API_KEY does not start with sk-")
				}
				return &Login{Mode: ModeAPIKey, APIKey: doc.apiKey, LastRefresh: doc.lastRefresh, Summary: sum,
					checkedAt: now, sourceWarnings: srcWarn}, tokWarn, nil
			}
			return nil, nil, refuse(ReasonNotChatGPT,
				"rerun with --api-key to store the key for Hermes as env:OPENAI_API_KEY; "+hintOwnLogin,
				"codex is logged in with an API key (OPENAI_API_KEY), not a ChatGPT account")
		}
		return nil, nil, refuse(ReasonNotChatGPT, hintFor(ReasonNotChatGPT), notChatGPTText(mode, doc))
	}
	t := doc.tokens
	tokens := Tokens{IDToken: t.idToken, AccessToken: t.accessToken, RefreshToken: t.refreshToken, AccountID: t.accountID}
	res := checkTokens(tokens, checkOpts{now: now, willRefresh: opts.TakeOver,
		lastRefreshState: doc.lastRefreshState, lastRefresh: doc.lastRefresh})
	if err := res.err(); err != nil {
		return nil, nil, err
	}
	tokens.AccountID = res.accountID
	fill(&sum, res)
	sum.Mode = ModeChatGPT
	return &Login{Mode: ModeChatGPT, Tokens: tokens, APIKey: doc.apiKey, LastRefresh: doc.lastRefresh,
		Summary: sum, checkedAt: now, stale: res.stale, sourceWarnings: srcWarn}, res.warnings, nil
}

func notChatGPTText(mode Mode, doc *authDoc) string {
	switch mode {
	case ModePersonalAccessToken:
		return "codex is logged in with a personal access token, which Hermes cannot use"
	case ModeAgentIdentity:
		form := "a signed agent-identity token"
		if doc.agentIdentityRecord {
			form = "an agent runtime id with its private key"
		}
		return "codex is logged in with an agent identity (" + form + "): Codex signs each request with it, " +
			"and Hermes's openai-codex provider can only send a bearer token, so it is not imported"
	case ModeBedrockAPIKey:
		return "codex is logged in with an Amazon Bedrock key, which Hermes cannot use"
	case ModeChatGPTAuthTokens, ModeHeaders:
		return fmt.Sprintf("auth_mode %q holds host-supplied credentials that cannot be loaded from storage", mode)
	case ModeAPIKey:
		return "codex is logged in with an API key mode but OPENAI_API_KEY is empty"
	}
	if doc.tokens == nil {
		return "the ChatGPT login has no tokens"
	}
	return fmt.Sprintf("auth_mode %q is not a ChatGPT login", mode)
}

// fill copies the checked claims into a summary; warnings are the
// caller's business.
func fill(sum *Summary, res *checkResult) {
	sum.AccountID = maskID(res.accountID)
	if res.access != nil {
		sum.AccessExpires = res.access.exp
		sum.Plan = res.access.plan
	}
	if res.id != nil {
		sum.Email = res.id.email
		if res.id.plan != "" {
			sum.Plan = res.id.plan
		}
	}
	if sum.Email == "" && res.access != nil {
		sum.Email = res.access.email
	}
	sum.Email, sum.Plan = printable(sum.Email), printable(sum.Plan)
}

// printable keeps claim values fit for a terminal: no control characters
// (an escape sequence in a forged claim would otherwise reach the user's
// terminal), at most 200 runes.
func printable(s string) string {
	r := []rune(s)
	if len(r) > 200 {
		r = append(r[:200], '…')
	}
	for i, c := range r {
		if !unicode.IsPrint(c) {
			r[i] = '?'
		}
	}
	return string(r)
}

// stamp renders a last_refresh for a message; "none" when absent.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
