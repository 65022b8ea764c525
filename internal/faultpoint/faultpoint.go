// Package faultpoint lets crash tests stop the process at an exact step.
// Its working half exists only in builds with the testhooks tag
// (faultpoint_testhooks.go), armed by cmd/hermes-keys/hooks_testhooks.go
// from the crash variable; in every other build (releases) Hit is an empty
// function and there is no Arm to call (faultpoint_release.go).
//
// A spec is "name" (die at the first hit of name) or "name:N" (die at the
// Nth hit). Dying is SIGKILL to ourselves: no deferred code, no flushing,
// as in a power cut of the process.
package faultpoint
