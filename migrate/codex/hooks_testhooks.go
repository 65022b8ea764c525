//go:build testhooks

package codex

// allowLoopbackHTTP lets the tests' local token servers (plain http on a
// loopback address) stand in for the token endpoint. Only builds with the
// testhooks tag have it.
const allowLoopbackHTTP = true
