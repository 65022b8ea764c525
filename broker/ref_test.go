package broker

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestEnvScopedToItsHome (issue 11 item 1): a profile sees exactly the .env
// keys Hermes would load for it, its own, never the root's: in EnvRecords
// (env, the daemon) and in Lookup of an env: ref (get). Auth blocks keep
// Hermes's per-provider root fallback.
func TestEnvScopedToItsHome(t *testing.T) {
	c := &Contents{Records: map[string]*Record{}}
	put := func(key, kind string, v any) {
		b, _ := json.Marshal(v)
		c.Put(key, kind, b, time.Unix(0, 0))
	}
	put("env/OPENROUTER_API_KEY", KindEnv, "root-or")
	put("env/TELEGRAM_BOT_TOKEN", KindEnv, "root-tg")
	put("profiles/work/env/OPENROUTER_API_KEY", KindEnv, "work-or")
	put("providers/nous", KindProvider, map[string]string{"refresh_token": "x"})

	for _, tc := range []struct {
		profile string
		want    map[string]string
	}{
		{"", map[string]string{"OPENROUTER_API_KEY": "root-or", "TELEGRAM_BOT_TOKEN": "root-tg"}},
		{"work", map[string]string{"OPENROUTER_API_KEY": "work-or"}},
		{"other", map[string]string{}},
	} {
		got, err := c.EnvRecords(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("EnvRecords(%q) = %v, want %v", tc.profile, got, tc.want)
		}
	}
	if _, _, err := c.Lookup("work", Ref{Key: "env/TELEGRAM_BOT_TOKEN"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of the root's env key for a profile: %v, want not found", err)
	}
	if k, _, err := c.Lookup("work", Ref{Key: "env/OPENROUTER_API_KEY"}); err != nil || k != "profiles/work/env/OPENROUTER_API_KEY" {
		t.Errorf("Lookup of the profile's own env key: %q, %v", k, err)
	}
	if k, _, err := c.Lookup("work", Ref{Key: "providers/nous"}); err != nil || k != "providers/nous" {
		t.Errorf("Lookup of a root provider block for a profile: %q, %v (Hermes falls back to the root's)", k, err)
	}
}
