package hermes

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// expiryOf finds when the credential in the object raw expires: from its
// metadata (expires_at, expires_at_ms, expiresAt) when present, else from
// the exp claim of its access token when that is a JWT. It returns the
// zero time when neither says; it never fails.
func expiryOf(raw []byte) (time.Time, string) {
	if v, ok := lookup(raw, "expires_at"); ok {
		if t, ok := timeValue(v, false); ok {
			return t, "expires_at"
		}
	}
	if v, ok := lookup(raw, "expires_at_ms"); ok {
		if t, ok := timeValue(v, true); ok {
			return t, "expires_at_ms"
		}
	}
	if v, ok := lookup(raw, "expiresAt"); ok {
		if t, ok := timeValue(v, true); ok {
			return t, "expiresAt"
		}
	}
	for _, name := range []string{"access_token", "accessToken"} {
		if s, ok := lookupString(raw, name); ok {
			if t, ok := jwtExpiry(s); ok {
				return t, name + " (jwt exp)"
			}
		}
	}
	if tokens, ok := lookup(raw, "tokens"); ok {
		if s, ok := lookupString(tokens, "access_token"); ok {
			if t, ok := jwtExpiry(s); ok {
				return t, "tokens.access_token (jwt exp)"
			}
		}
	}
	return time.Time{}, ""
}

// timeValue reads an ISO-8601 string (Python's isoformat, with or without
// an offset; without one it is UTC) or a number of seconds since the epoch
// (milliseconds when ms is set, or when the number is too large to be
// seconds).
func timeValue(v []byte, ms bool) (time.Time, bool) {
	v = trimValue(v)
	switch kind(v) {
	case '"':
		s := decodeString(v)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	case 'n', 't', 'f', '{', '[', 0:
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	return epoch(f, ms)
}

func epoch(f float64, ms bool) (time.Time, bool) {
	if ms || f > 1e11 {
		f /= 1000
	}
	if f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// jwtExpiry decodes the payload of a JWT (no signature check: this is for
// display and planning only) and returns its exp claim. Anything that is
// not a JWT with a numeric exp gives false.
func jwtExpiry(tok string) (time.Time, bool) {
	if len(tok) > 64<<10 || strings.Count(tok, ".") != 2 {
		return time.Time{}, false
	}
	payload := tok[strings.IndexByte(tok, '.')+1 : strings.LastIndexByte(tok, '.')]
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	return epoch(f, false)
}
