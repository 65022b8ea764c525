// Package daemon is the hermes-keys broker daemon (`hermes-keys serve`) and
// its client. The daemon listens on a per-user Unix socket, checks every
// peer's uid, holds the vault identity in memory only, and answers a small
// versioned JSON-lines protocol:
//
//	→ {"v":1,"id":7,"op":"get","ref":"openai-codex.tokens.access_token"}
//	← {"v":1,"id":7,"ok":true,"key":"providers/openai-codex","value":"…","generation":3}
//	← {"v":1,"id":7,"ok":false,"code":"not_found","error":"…","hint":"…"}
//
// One request per line, one response line per request, in order, on a
// connection that may carry many requests. docs/servers.md documents every
// operation; Code* below lists the error codes and ExitCode maps them to the
// command line's exit codes.
package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// Version is the protocol version this build speaks.
const Version = 1

// MaxLine is the largest request line, newline included. A longer line is
// answered with CodeTooLarge and the connection is closed.
const MaxLine = 1 << 20

// MaxSealLine is the largest seal request line: a run that seals a whole
// store at once (a crashed run's leftovers, a large pool) sends every
// record it changed in one line, for one atomic vault write.
const MaxSealLine = 16 << 20

// Operations.
const (
	OpGet    = "get"
	OpPut    = "put"
	OpEnv    = "env"
	OpStatus = "status"
	OpUnlock = "unlock"
	OpLock   = "lock"
	OpPing   = "ping"
	// OpOpen returns every record (values included) and the vault's
	// generation: what `run` materialises. The vault key stays in the
	// daemon; only what the key opens leaves it, and each open is logged
	// with the peer's pid and executable.
	OpOpen = "open"
	// OpSeal applies record puts and deletes, each checked against the
	// generation the client read, in one vault write under the vault lock:
	// `run` seals what Hermes wrote without holding the key.
	OpSeal = "seal"
)

// There is no op that returns the vault key: it never leaves the process
// that read it from its backend (DESIGN.md §9).

// Error codes of a failed response.
const (
	CodeBadRequest    = "bad_request"         // malformed line, unknown op, missing field (exit 2)
	CodeVersion       = "unsupported_version" // "v" is not 1 (exit 2)
	CodeTooLarge      = "too_large"           // line over MaxLine; the connection is closed (exit 2)
	CodeNotFound      = "not_found"           // no such record or field (exit 3)
	CodeLocked        = "locked"              // the daemon holds no identity (exit 4)
	CodeBadPassphrase = "bad_passphrase"      // unlock with a wrong passphrase (exit 4)
	CodeGeneration    = "generation"          // put with a stale if_generation, seal of a changed record (exit 1)
	CodeVaultMismatch = "vault_mismatch"      // the request names another vault (exit 1)
	CodeForbidden     = "forbidden"           // peer is another user; the connection is closed (exit 1)
	CodeBusy          = "busy"                // too many clients; the connection is closed (exit 1)
	CodeTimeout       = "timeout"             // no complete line before the read deadline; closed (exit 1)
	CodeLockTimeout   = "lock_timeout"        // the vault lock stayed busy (exit 6)
	CodeLive          = "run_live"            // put of a block while a `hermes-keys run` is live (exit 1)
	CodeInternal      = "internal"            // anything else (exit 1)
)

// ExitCode maps an error code to the command line's exit code (DESIGN.md §8).
func ExitCode(code string) int {
	switch code {
	case "":
		return 0
	case CodeBadRequest, CodeVersion, CodeTooLarge:
		return 2
	case CodeNotFound:
		return 3
	case CodeLocked, CodeBadPassphrase:
		return 4
	case CodeLockTimeout:
		return 6
	}
	return 1
}

// Request is one request line. Which fields count depends on Op:
//
//	get     ref, profile               → value, generation, key
//	put     ref, profile, value,       → generation, key
//	        if_generation (optional; 0 means "must not exist")
//	env     profile                    → env
//	status                             → status (never a value)
//	unlock  passphrase (file backend)  → status
//	        or nothing (the daemon reads its backend),
//	        ttl_seconds (optional)
//	lock                               → status
//	ping                               → (nothing)
//	open                               → contents (every record)
//	seal    changes                    → contents (after the write)
//
// vault, when set, must be the daemon's vault id; a client sends it so that
// it never reads another vault's records through a shared socket.
type Request struct {
	V            int             `json:"v"`
	ID           int64           `json:"id"`
	Op           string          `json:"op"`
	Ref          string          `json:"ref,omitempty"`
	Profile      string          `json:"profile,omitempty"`
	Vault        string          `json:"vault,omitempty"`
	Value        json.RawMessage `json:"value,omitempty"`
	IfGeneration *uint64         `json:"if_generation,omitempty"`
	// Identity is refused: the daemon takes no vault key from a client.
	// The field exists to say so instead of ignoring it.
	Identity   string   `json:"identity,omitempty"`
	Passphrase string   `json:"passphrase,omitempty"`
	TTLSeconds float64  `json:"ttl_seconds,omitempty"`
	Changes    []Change `json:"changes,omitempty"`
}

// Change is one record of a seal: Record set puts it, nil deletes it.
// Expect is the generation the client read (0: the record did not exist);
// the seal fails with CodeGeneration, writing nothing, when any record is
// no longer at its Expect.
type Change struct {
	Key    string         `json:"key"`
	Expect uint64         `json:"expect"`
	Record *broker.Record `json:"record,omitempty"`
}

// Snapshot is the records of the vault, as open and seal return them.
type Snapshot struct {
	VaultID    string                    `json:"vault_id"`
	Generation uint64                    `json:"generation"`
	Records    map[string]*broker.Record `json:"records"`
}

// Response is one response line.
type Response struct {
	V     int    `json:"v"`
	ID    int64  `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	Hint  string `json:"hint,omitempty"`

	Key        string            `json:"key,omitempty"`
	Value      json.RawMessage   `json:"value,omitempty"`
	Generation uint64            `json:"generation,omitzero"`
	Env        map[string]string `json:"env,omitzero"`
	Status     *Status           `json:"status,omitempty"`
	Contents   *Snapshot         `json:"contents,omitempty"`
}

// Status is what the daemon says about itself. It never holds a value.
type Status struct {
	Locked     bool   `json:"locked"`
	VaultID    string `json:"vault_id"`
	Dir        string `json:"dir"`
	Version    string `json:"version,omitempty"`
	PID        int    `json:"pid"`
	Records    int    `json:"records,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	Clients    int    `json:"clients"`
	MaxClients int    `json:"max_clients"`
	// AutoUnlock says the daemon reads the identity from its backend by
	// itself when locked (keychain, or a non-interactive passphrase source).
	AutoUnlock         bool    `json:"auto_unlock"`
	IdleTimeoutSeconds float64 `json:"idle_timeout_seconds"`
	// ExpiresInSeconds is the time left of an unlock's ttl, 0 for none.
	ExpiresInSeconds float64 `json:"expires_in_seconds,omitempty"`
}

// Decoding errors. Their messages are fixed: a malformed request, which may
// hold a passphrase, is never echoed back or logged.
var (
	ErrTooLarge    = errors.New("request line is larger than 1 MiB (16 MiB for a seal)")
	ErrEmpty       = errors.New("empty request line")
	ErrNotJSON     = errors.New("request is not a JSON object")
	ErrFieldType   = errors.New("a request field has the wrong type")
	ErrVersion     = errors.New("unsupported protocol version (this daemon speaks v1)")
	ErrUnknownOp   = errors.New("unknown op")
	ErrMissingRef  = errors.New("missing ref")
	ErrMissingVal  = errors.New("missing value")
	ErrBadProfile  = errors.New("bad profile name")
	ErrUnlockArgs  = errors.New("unlock takes a passphrase or nothing, never a vault key")
	ErrBadChange   = errors.New("seal needs changes, each with a record key")
	ErrBadTTL      = errors.New("bad ttl_seconds")
	ErrNegativeID  = errors.New("id must not be negative")
	errDecodeFixed = []error{ErrTooLarge, ErrEmpty, ErrNotJSON, ErrFieldType, ErrVersion, ErrUnknownOp,
		ErrMissingRef, ErrMissingVal, ErrBadProfile, ErrUnlockArgs, ErrBadTTL, ErrNegativeID, ErrBadChange}
)

// validProfile is ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ without "..": written
// out, so that the package does no regexp work at init or on first use.
func validProfile(p string) bool {
	if len(p) == 0 || len(p) > 128 || p == "." || strings.Contains(p, "..") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// DecodeRequest parses and checks one request line (without or with its
// trailing newline). On an error after the id was read, the returned
// request carries that id so the answer can name it; the error is one of
// the fixed Err* above.
func DecodeRequest(line []byte) (*Request, error) {
	size := len(line)
	if size > MaxSealLine {
		return nil, ErrTooLarge
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, ErrEmpty
	}
	if line[0] != '{' || !json.Valid(line) {
		return nil, ErrNotJSON
	}
	req := &Request{}
	if err := json.Unmarshal(line, req); err != nil {
		// The line is valid JSON, so this is a field of the wrong type.
		// Salvage the id, if it has one, for the answer.
		var idOnly struct {
			ID int64 `json:"id"`
		}
		json.Unmarshal(line, &idOnly)
		return &Request{ID: idOnly.ID}, ErrFieldType
	}
	if req.ID < 0 {
		return &Request{}, ErrNegativeID
	}
	if req.V != Version {
		return req, ErrVersion
	}
	if size > MaxLine && req.Op != OpSeal {
		return req, ErrTooLarge
	}
	if req.Profile != "" {
		// The profile as Hermes resolves it ("WORK" and " work" are work,
		// "default" is the root, a name Hermes refuses is refused): never
		// a second spelling that misses the profile's records and falls
		// back to the root's (issue 10 item 5).
		canon, err := hermes.ValidateProfile(req.Profile)
		if err != nil {
			return req, ErrBadProfile
		}
		req.Profile = canon
	}
	if req.Profile != "" && !validProfile(req.Profile) {
		return req, ErrBadProfile
	}
	switch req.Op {
	case OpGet:
		if req.Ref == "" {
			return req, ErrMissingRef
		}
	case OpPut:
		if req.Ref == "" {
			return req, ErrMissingRef
		}
		if len(req.Value) == 0 || bytes.Equal(req.Value, []byte("null")) {
			return req, ErrMissingVal
		}
	case OpUnlock:
		if req.Identity != "" {
			return req, ErrUnlockArgs
		}
		if req.TTLSeconds < 0 || req.TTLSeconds > 366*24*3600 {
			return req, ErrBadTTL
		}
	case OpSeal:
		if len(req.Changes) == 0 {
			return req, ErrBadChange
		}
		for _, c := range req.Changes {
			if c.Key == "" {
				return req, ErrBadChange
			}
		}
	case OpEnv, OpStatus, OpLock, OpPing, OpOpen:
	default:
		return req, ErrUnknownOp
	}
	return req, nil
}

// decodeCode is the error code of a DecodeRequest error.
func decodeCode(err error) string {
	switch err {
	case ErrTooLarge:
		return CodeTooLarge
	case ErrVersion:
		return CodeVersion
	}
	return CodeBadRequest
}

// readLine reads up to and including '\n' into buf, at most max bytes. A
// last line without '\n' before EOF counts as a line.
func readLine(r *bufio.Reader, max int, buf []byte) ([]byte, error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max {
			return buf, ErrTooLarge
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return buf, nil
		}
		return buf, err
	}
}
