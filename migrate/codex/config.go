package codex

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strings"
)

// StoreMode is Codex's cli_auth_credentials_store.
type StoreMode string

// Store modes (codex-rs/config/src/types.rs AuthCredentialsStoreMode).
const (
	StoreFile      StoreMode = "file"
	StoreKeyring   StoreMode = "keyring"
	StoreAuto      StoreMode = "auto"
	StoreEphemeral StoreMode = "ephemeral"
)

// codexConfig is the little of config.toml that decides where Codex keeps
// its login.
type codexConfig struct {
	mode StoreMode
	// secretAuth is [features] secret_auth_storage: the keyring backend is
	// the encrypted secrets file rather than the direct entry. Codex enables
	// it by default on Windows only.
	secretAuth bool
	warnings   []string
}

func defaultConfig() codexConfig {
	return codexConfig{mode: StoreFile, secretAuth: runtime.GOOS == "windows"}
}

// parseConfig reads cli_auth_credentials_store (top level) and
// secret_auth_storage (in [features], or as features.secret_auth_storage,
// or in an inline features table). It is not a TOML parser: it reads
// key = value lines of the root table and [features], skips multi-line
// strings, and ignores everything it does not understand. A missing or
// unreadable key keeps Codex's default.
func parseConfig(data []byte) codexConfig {
	cfg := defaultConfig()
	table := ""
	inMulti := "" // the delimiter of an open multi-line string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxFileSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(line, d)%2 == 1 {
				inMulti = d
			}
		}
		if inMulti != "" {
			continue
		}
		line = stripComment(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			table = strings.Trim(strings.TrimSpace(strings.Trim(line, "[]")), " ")
			table = strings.ReplaceAll(table, " ", "")
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = unquoteKey(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		full := key
		if table != "" {
			full = table + "." + key
		}
		switch full {
		case "cli_auth_credentials_store":
			s, ok := tomlString(val)
			if !ok {
				cfg.warnings = append(cfg.warnings, "config.toml: cli_auth_credentials_store is not a string; assuming \"file\"")
				continue
			}
			switch m := StoreMode(s); m {
			case StoreFile, StoreKeyring, StoreAuto, StoreEphemeral:
				cfg.mode = m
			default:
				cfg.warnings = append(cfg.warnings, fmt.Sprintf("config.toml: unknown cli_auth_credentials_store %s; assuming \"file\"", safeLabel(s)))
			}
		case "features.secret_auth_storage":
			if b, ok := tomlBool(val); ok {
				cfg.secretAuth = b
			}
		case "features":
			// features = { secret_auth_storage = true, ... }
			if strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}") {
				for _, kv := range strings.Split(strings.Trim(val, "{}"), ",") {
					k, v, ok := strings.Cut(kv, "=")
					if ok && unquoteKey(strings.TrimSpace(k)) == "secret_auth_storage" {
						if b, ok := tomlBool(strings.TrimSpace(v)); ok {
							cfg.secretAuth = b
						}
					}
				}
			}
		}
	}
	if sc.Err() != nil {
		cfg.warnings = append(cfg.warnings, "config.toml: could not be read to the end; Codex's defaults assumed for what was not seen")
	}
	return cfg
}

// stripComment removes a # comment that is not inside a string.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return strings.TrimSpace(line[:i])
		}
	}
	return line
}

func unquoteKey(k string) string {
	k = strings.ReplaceAll(k, " ", "")
	if s, ok := tomlString(k); ok {
		return s
	}
	return k
}

// tomlString accepts a basic string without escapes or a literal string.
func tomlString(v string) (string, bool) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		s := v[1 : len(v)-1]
		if !strings.ContainsAny(s, `\"'`) {
			return s, true
		}
	}
	return "", false
}

func tomlBool(v string) (bool, bool) {
	switch v {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}
