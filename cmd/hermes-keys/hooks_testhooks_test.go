//go:build testhooks

package main

import (
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// HERMES_KEYS_TEST_SCRYPT outside age's 1-30 is ignored (31 used to panic
// in SetWorkFactor).
func TestTestScryptWorkFactorRange(t *testing.T) {
	for v, want := range map[string]int{"10": 10, "1": 1, "30": 30, "31": 0, "0": 0, "-1": 0, "x": 0, "": 0} {
		if got := testScryptWorkFactor(iox.MapEnv(map[string]string{"HERMES_KEYS_TEST_SCRYPT": v})); got != want {
			t.Errorf("HERMES_KEYS_TEST_SCRYPT=%q: %d, want %d", v, got, want)
		}
	}
}
