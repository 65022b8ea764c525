// Package codex reads an OpenAI Codex CLI login so that Hermes can use it.
// It is a library: the command line (hermes-keys import codex) and the vault
// write live elsewhere.
//
// # What it promises
//
// Strictly read-only. Files under CODEX_HOME are opened with O_RDONLY and
// nothing else: nothing there is created, locked, chmodded, renamed or
// rewritten, and no keyring entry is written or deleted, whatever the
// outcome. The keyring is reached only through the [Keyring] interface,
// which has a Get and nothing more.
//
// Validated before anything is persisted. [Read] finds the login the way
// Codex does (CODEX_HOME or ~/.codex; auth.json, the "Codex Auth" keyring
// entry, and the age-encrypted secrets/codex_auth.age whose passphrase is in
// the keyring), chooses the source Codex's own config.toml would use and
// reports the others. It then checks the tokens offline: both are three-part
// JWTs with JSON payloads, the access token is not expired and not within
// five minutes of expiring, a refresh token and last_refresh are present,
// and tokens.account_id, the chatgpt_account_id claim of both tokens and the
// sub claim of both tokens agree. Issuer, audience and client id are
// checked as warnings only.
//
// Token signatures are not verified: that needs OpenAI's signing keys over
// the network, and Codex does not verify them either. The checks catch a
// damaged, stale or inconsistent login, not a forged one; [Summary.String]
// says so.
//
// No secret in any error, warning or summary. Tokens are held in [Secret],
// which prints as "[redacted]" and refuses to be marshalled; the only way to
// the value is [Secret.Reveal]. Error messages name a token by its place
// (tokens.access_token), never by its content, and never echo a response
// body from the token endpoint.
//
// # Refusals
//
// Every refusal wraps [ErrRefused], carries a [Reason] (see [RefusalError]),
// the exit code xerr.ExitRefused and a remedy for the hint line that follows
// what Hermes itself tells users today: `codex login` on the Codex side,
// `hermes auth add openai-codex` or `hermes model` for a login of Hermes's
// own (which Hermes recommends over sharing one).
//
// # Taking over
//
// A Codex refresh token is single use and rotates; if Hermes and Codex both
// refresh the same one, the second gets refresh_token_reused. [Login.TakeOver]
// refreshes once at the token endpoint so that Hermes holds a fresh pair that
// Codex no longer shares; Codex must log in again afterwards. That is an
// explicit choice for the caller, never a default. Failures are classified
// the way Codex classifies them: [ErrReloginRequired] (the grant is dead) or
// [ErrTransient] (try again later).
package codex
