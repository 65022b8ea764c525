package hermes

import (
	"reflect"
	"testing"
)

func TestIsSecretKey(t *testing.T) {
	secret := []string{
		// Every exact name of _SECRET_VALUE_KEYS.
		"access_token", "refresh_token", "agent_key", "api_key", "apikey", "api_token",
		"auth_token", "authorization", "bearer_token", "client_secret", "credential",
		"credentials", "id_token", "oauth_token", "private_key", "secret_key",
		"session_token", "password", "secret", "token", "tokens",
		// Every suffix of _SECRET_VALUE_SUFFIXES.
		"x_api_key", "x_api_token", "x_access_token", "x_auth_token", "x_refresh_token",
		"x_bearer_token", "x_client_secret", "x_id_token", "x_oauth_token", "x_private_key",
		"x_session_token", "x_secret_key", "x_password", "x_secret", "x_token", "x_key",
		// Normalisation: camelCase, dashes, dots, case, surrounding space.
		"accessToken", "refreshToken", "idToken", "clientSecret", "APIKey", "apiKey",
		"Access-Token", "oauth.token", "ACCESS_TOKEN", " refresh_token ", "anon_token",
		"matrixAccessToken", "x-api-key",
	}
	notSecret := []string{
		// Every exempt metadata key of _SAFE_SECRETISH_METADATA_KEYS.
		"secret_fingerprint", "secret_source", "token_type", "scope", "client_id",
		"agent_key_id", "agent_key_expires_at", "agent_key_expires_in", "agent_key_reused",
		"agent_key_obtained_at", "expires_at", "expires_at_ms", "expires_in", "last_refresh",
		"last_status", "last_status_at", "last_error_code", "last_error_reason",
		"last_error_message", "last_error_reset_at",
		// Exempt after normalisation.
		"tokenType", "expiresAt", "secretFingerprint",
		// Ordinary metadata.
		"", "id", "label", "auth_type", "priority", "source", "base_url", "key_hash",
		"account_id", "request_count", "portal_base_url", "last_auth_error", "keys",
		"tls", "discovery", "token_endpoint", "monkey", "key", "secrets", "tokenize",
	}
	for _, k := range secret {
		if !IsSecretKey(k) {
			t.Errorf("%q should be secret", k)
		}
		if !isSecretTok([]byte(`"` + k + `"`)) {
			t.Errorf("%q should be secret as a token", k)
		}
	}
	for _, k := range notSecret {
		if IsSecretKey(k) {
			t.Errorf("%q should not be secret", k)
		}
		if k != "" && isSecretTok([]byte(`"`+k+`"`)) {
			t.Errorf("%q should not be secret as a token", k)
		}
	}
}

func TestNormalizeKey(t *testing.T) {
	for in, want := range map[string]string{
		"accessToken": "access_token", "APIKey": "apikey", "apiKey": "api_key",
		"client-secret": "client_secret", "oauth.Token": "oauth_token", "a1B": "a1_b",
		" x ": "x", "already_snake": "already_snake", "ID": "id",
	} {
		if got := NormalizeKey(in); got != want {
			t.Errorf("NormalizeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecretFields(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []SecretField
	}{
		{"plain", `{"access_token":"abcd","label":"x","refresh_token":""}`,
			[]SecretField{{"p.access_token", 4}}},
		{"null and bool are not secrets", `{"token":null,"secret":false,"api_key":{}}`, nil},
		{"numbers are", `{"password":12345}`, []SecretField{{"p.password", 5}}},
		{"escaped size is decoded size", `{"secret":"a\nb\u00e9"}`, []SecretField{{"p.secret", 5}}},
		{"codex tokens: only the secret keys inside", `{"tokens":{"access_token":"aa","refresh_token":"bbb","account_id":"acct","expires_in":5}}`,
			[]SecretField{{"p.tokens.access_token", 2}, {"p.tokens.refresh_token", 3}}},
		{"blanket container: all but exempt", `{"credentials":{"user":"u","pass":"pw","expires_at":"2026"}}`,
			[]SecretField{{"p.credentials.user", 1}, {"p.credentials.pass", 2}}},
		{"arrays inherit", `{"keys":[{"api_key":"k1"}],"tokens":["t1","t2"]}`,
			[]SecretField{{"p.keys[0].api_key", 2}, {"p.tokens[0]", 2}, {"p.tokens[1]", 2}}},
		{"fingerprints are not secrets", `{"source":"env:X","secret_fingerprint":"sha256:0123456789abcdef"}`, nil},
		{"deep", `{"a":{"b":{"c":{"session_token":"zz"}}}}`, []SecretField{{"p.a.b.c.session_token", 2}}},
		{"odd key names are not echoed", `{"x\"CANARY":{"token":"zz"}}`, []SecretField{{"p.(key of 8 bytes).token", 2}}},
		// A secret-shaped key anywhere in the container, not only the first,
		// keeps the container from being a blanket one.
		{"secret key after plain ones: only it", `{"tokens":{"account_id":"acct","label":"l","access_token":"aa"}}`,
			[]SecretField{{"p.tokens.access_token", 2}}},
		// Exempt names are matched after normalising, as Hermes does.
		{"blanket container: camelCase metadata exempt", `{"credentials":{"expiresAt":"2026","lastRefresh":"x","value":"vv"}}`,
			[]SecretField{{"p.credentials.value", 2}}},
		// JSON escapes in key names are decoded before classifying.
		{"escaped secret key name", `{"access\u005ftoken":"aa","label":"x"}`,
			[]SecretField{{"p.access_token", 2}}},
		{"escaped exempt key name in a blanket container", `{"credentials":{"expires\u005fat":"2026","v":"vv"}}`,
			[]SecretField{{"p.credentials.v", 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := SecretFields("p", []byte(c.in))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if HasSecret([]byte(c.in)) != (len(c.want) > 0) {
				t.Fatalf("HasSecret disagrees with SecretFields")
			}
			n, size := CountSecrets([]byte(c.in))
			wn, ws := 0, 0
			for _, f := range c.want {
				wn++
				ws += f.Size
			}
			if n != wn || size != ws {
				t.Fatalf("CountSecrets = %d, %d; want %d, %d", n, size, wn, ws)
			}
		})
	}
}
