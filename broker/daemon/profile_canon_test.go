package daemon

import (
	"errors"
	"testing"
)

// The daemon resolves a request's profile as Hermes and the command line
// do (issue 10 item 5): spellings of one profile are that profile, names
// Hermes refuses are refused, never served from the root.
func TestDecodeRequestCanonicalProfile(t *testing.T) {
	for in, want := range map[string]string{"WORK": "work", " work": "work", "Work\t": "work", "Default": "", "work": "work"} {
		req, err := DecodeRequest([]byte(`{"v":1,"id":1,"op":"env","profile":"` + jsonEscape(in) + `"}`))
		if err != nil || req.Profile != want {
			t.Errorf("profile %q: got %q, %v; want %q", in, req.Profile, err, want)
		}
	}
	for _, in := range []string{"../x", "test", "a.b", "İx"} {
		if _, err := DecodeRequest([]byte(`{"v":1,"id":1,"op":"env","profile":"` + in + `"}`)); !errors.Is(err, ErrBadProfile) {
			t.Errorf("profile %q: %v, want ErrBadProfile", in, err)
		}
	}
}

func jsonEscape(s string) string {
	out := ""
	for _, r := range s {
		if r == '\t' {
			out += `\t`
			continue
		}
		out += string(r)
	}
	return out
}
