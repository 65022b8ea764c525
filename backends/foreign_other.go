//go:build !linux && !windows

package backends

const foreignName = "keychain"

// foreignHolder reads a generic password by service and account, which is
// how the Rust keyring crate (Codex) names it on macOS.
func foreignHolder(_ Config, service string) Holder { return native{service: service} }
