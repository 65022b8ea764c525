//go:build !testhooks

package codex

// allowLoopbackHTTP is false in a release build: the token endpoint is
// https or nothing.
const allowLoopbackHTTP = false
