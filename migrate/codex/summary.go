package codex

import (
	"fmt"
	"strings"
	"time"
)

// Summary describes a login for people and for --json output. It never
// holds a token: the account id is masked and the rest is metadata.
type Summary struct {
	Source   Source `json:"source"`
	Location string `json:"location"`
	Mode     Mode   `json:"mode"`
	Email    string `json:"email,omitempty"`
	Plan     string `json:"plan,omitempty"`
	// AccountID is the ChatGPT account id, partly masked.
	AccountID     string    `json:"account_id,omitempty"`
	AccessExpires time.Time `json:"access_expires,omitzero"`
	LastRefresh   time.Time `json:"last_refresh,omitzero"`
	CheckedAt     time.Time `json:"checked_at"`
	// SignatureVerified is always false: see the package documentation.
	SignatureVerified bool `json:"signature_verified"`
	// TakenOver: the tokens were refreshed by Login.TakeOver, so Codex's
	// copy of the refresh token is spent.
	TakenOver bool `json:"taken_over,omitempty"`
	// HasAPIKey: the document also holds an OPENAI_API_KEY.
	HasAPIKey bool           `json:"has_api_key,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
	Others    []SourceReport `json:"others,omitempty"`
}

// String renders the summary as indented lines for the terminal.
func (s Summary) String() string {
	var b strings.Builder
	line := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "  %-15s %s\n", k+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "codex login from %s\n", s.Location)
	line("mode", "%s", s.Mode)
	if s.Email != "" {
		line("email", "%s", s.Email)
	}
	if s.Plan != "" {
		line("plan", "%s", s.Plan)
	}
	if s.AccountID != "" {
		line("account", "%s", s.AccountID)
	}
	if !s.AccessExpires.IsZero() {
		line("access token", "expires %s (%s)", s.AccessExpires.UTC().Format(time.RFC3339), relative(s.AccessExpires.Sub(s.CheckedAt)))
	}
	if !s.LastRefresh.IsZero() {
		line("last refresh", "%s", s.LastRefresh.UTC().Format(time.RFC3339))
	}
	if s.TakenOver {
		line("taken over", "refreshed once; Codex must log in again (`codex login`)")
	}
	if s.Mode == ModeChatGPT {
		line("signatures", "not verified: Codex does not verify them either; structure, claims and expiry were checked")
	}
	for _, o := range s.Others {
		state := "nothing there"
		switch {
		case o.Problem != "":
			state = o.Problem
		case o.Found && o.SameAsUsed:
			state = "the same login"
		case o.Found:
			state = "a different login"
		}
		line("also checked", "%s: %s", o.Location, state)
	}
	for _, w := range s.Warnings {
		line("warning", "%s", w)
	}
	return b.String()
}

func relative(d time.Duration) string {
	if d < 0 {
		return "expired " + span(-d) + " ago"
	}
	return "in " + span(d)
}

func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}
