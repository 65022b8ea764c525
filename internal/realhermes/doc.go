// Package realhermes is the integration suite that runs the real Hermes CLI
// (release 0.19.0, installed by scripts/install-hermes) against hermes-keys.
// It holds no code outside its tests. What the suite promises: for the root
// and each profile, what Hermes shows (auth list, status) under
// `hermes-keys run` is what an untouched plaintext twin of the same root
// shows, before and after each Hermes command that changes credentials;
// no secret is left under the root when no run is live; and `unmigrate`
// gives Hermes exactly what it saw under `run`.
//
// Hermes finds no network: its proxies point at a closed port, and only the
// HTTP exchange of its device-code logins is replaced (testdata/shim).
package realhermes
