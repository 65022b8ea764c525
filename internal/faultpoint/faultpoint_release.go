//go:build !testhooks

package faultpoint

// Hit does nothing outside a testhooks build.
func Hit(string) {}
