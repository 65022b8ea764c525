package codex

import (
	"errors"
	"strings"

	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// Sentinel errors. Callers branch with errors.Is.
var (
	// ErrRefused is wrapped by every refusal to import: the login is
	// missing, unreadable, not a ChatGPT login, or fails validation, or
	// Hermes already has a login that must not be replaced.
	ErrRefused = errors.New("codex login refused")

	// ErrNotFound is what a Keyring returns for a missing entry.
	ErrNotFound = errors.New("no such keyring entry")

	// ErrReloginRequired means the token endpoint rejected the refresh token
	// for good (HTTP 401, refresh_token_expired, refresh_token_reused,
	// refresh_token_invalidated): the grant is dead and only a new login
	// helps.
	ErrReloginRequired = errors.New("codex refresh token no longer valid")

	// ErrTransient means a refresh failed for a reason that may pass:
	// network error, timeout, 5xx, 429, any other status, or a malformed
	// response.
	ErrTransient = errors.New("codex token refresh failed")
)

// Reason says why a login was refused. It is stable and meant for programs;
// the error text is for people.
type Reason string

// Reasons for a refusal.
const (
	ReasonNoCodexHome         Reason = "no-codex-home"         // CODEX_HOME set but not a directory
	ReasonNotLoggedIn         Reason = "not-logged-in"         // no source holds a login
	ReasonUnreadable          Reason = "unreadable"            // too large, not UTF-8, not JSON, wrong shape, undecryptable
	ReasonNotChatGPT          Reason = "not-chatgpt"           // API key, PAT, agent identity, Bedrock, headers
	ReasonMissingAccessToken  Reason = "missing-access-token"  // tokens.access_token empty
	ReasonMissingRefreshToken Reason = "missing-refresh-token" // tokens.refresh_token empty
	ReasonMissingLastRefresh  Reason = "missing-last-refresh"  // last_refresh absent or not a time
	ReasonMalformedToken      Reason = "malformed-token"       // a token is not a JWT with a JSON payload
	ReasonExpired             Reason = "access-token-expired"  // exp in the past, or no exp
	ReasonExpiresSoon         Reason = "access-token-expiring" // exp within the refresh window
	ReasonAccountMismatch     Reason = "account-mismatch"      // tokens.account_id and the claims disagree
	ReasonSubjectMismatch     Reason = "subject-mismatch"      // sub differs between the tokens
	ReasonHermesHasLogin      Reason = "hermes-has-login"      // CanReplace: Hermes's own login is in use
	ReasonNotTakenOver        Reason = "not-taken-over"        // HermesBlock of a login read for take-over but not refreshed
)

// RefusalError is the concrete type of a refusal. errors.Is(err,
// ErrRefused) holds for it; errors.As gives the Reason.
type RefusalError struct {
	Reason Reason
	// Problems are the specific findings, first one first; they never
	// contain a secret.
	Problems []string
}

func (e *RefusalError) Error() string {
	return "codex login refused: " + strings.Join(e.Problems, "; ")
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusalError) Is(target error) bool { return target == ErrRefused }

// Remedies shown on the hint line, following what Hermes and Codex tell
// users today.
const (
	hintOwnLogin   = "or give Hermes its own login (recommended by Hermes): `hermes auth add openai-codex` or `hermes model`"
	hintCodexLogin = "sign in to Codex again with `codex login`, then rerun `hermes-keys import codex`; " + hintOwnLogin
)

// refuse builds a refusal with its exit code and hint.
func refuse(reason Reason, hint string, problems ...string) error {
	err := error(&RefusalError{Reason: reason, Problems: problems})
	if hint != "" {
		err = xerr.WithHint(err, hint)
	}
	return xerr.WithCode(err, xerr.ExitRefused)
}

// hintFor returns the usual remedy for a reason.
func hintFor(r Reason) string {
	switch r {
	case ReasonNoCodexHome:
		return "point CODEX_HOME (or --codex-home) at the directory Codex uses, or unset it to use ~/.codex"
	case ReasonNotLoggedIn:
		return "log in to Codex first with `codex login`; " + hintOwnLogin
	case ReasonExpiresSoon, ReasonExpired:
		return "run `codex` once so it refreshes its own token, then rerun `hermes-keys import codex`; " +
			"or rerun with --take-over to refresh it now (Codex must then log in again); " + hintOwnLogin
	case ReasonAccountMismatch, ReasonSubjectMismatch:
		return "the login looks edited or mixed from two accounts; run `codex logout` and `codex login`, then rerun; " + hintOwnLogin
	case ReasonNotChatGPT:
		return "Hermes's openai-codex provider needs a ChatGPT login: `codex login` (without --with-api-key); " + hintOwnLogin
	case ReasonHermesHasLogin:
		return "keep Hermes's own login, or rerun with --replace to overwrite it with the Codex login"
	case ReasonNotTakenOver:
		return "call TakeOver before HermesBlock, or read without take-over"
	}
	return hintCodexLogin
}
