package main

import (
	"fmt"
	"strings"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/migrate"
)

// checkProfiles: profile directories are Hermes's. Records of a profile
// Hermes deleted are orphaned (never materialised, removed by `forget`);
// a renamed profile's records move at the next seal or run; a hermes-keys/
// directory inside a profile is a copy `profile create --clone-all` made,
// never a vault. Names and paths only.
func (e *doctorEnv) checkProfiles(facts vaultFacts) doctorCheck {
	c := doctorCheck{Check: "profiles", Status: checkOK}
	home, err := e.a.hermesHome()
	if err != nil {
		c.Status, c.Detail = checkWarn, "profiles not checked: "+reasonOf(err)
		return c
	}
	root := home.RootHome()
	homes, err := root.Profiles()
	if err != nil {
		c.Status, c.Detail = checkWarn, "profiles not checked: "+reasonOf(err)
		return c
	}
	var copies []string
	for _, h := range homes {
		for _, cp := range hermes.ScanCopies(h) {
			if cp.Kind == hermes.CopyVault {
				copies = append(copies, cp.Path)
			}
		}
	}
	var orphaned, moved []string
	if facts.contents != nil {
		for _, o := range migrate.Orphans(facts.contents, root, homes, facts.vaultID) {
			if o.MovedTo != "" {
				moved = append(moved, fmt.Sprintf("%s (renamed to %s, %d record(s))", printableName(o.Profile), printableName(o.MovedTo), len(o.Records)))
			} else {
				orphaned = append(orphaned, fmt.Sprintf("%s (%d record(s))", printableName(o.Profile), len(o.Records)))
			}
		}
	}
	var details, hints []string
	if len(orphaned) > 0 {
		details = append(details, "orphaned records of deleted profile(s): "+strings.Join(orphaned, ", "))
		hints = append(hints, "they are never materialised; `hermes-keys forget -p NAME` removes them")
	}
	if len(moved) > 0 {
		details = append(details, "records waiting to follow a rename: "+strings.Join(moved, ", "))
		hints = append(hints, "`hermes-keys seal` moves them")
	}
	if len(copies) > 0 {
		quoted := make([]string, len(copies))
		for i, p := range copies {
			quoted[i] = printableName(p)
		}
		details = append(details, "copied vault director(ies), never used: "+strings.Join(quoted, ", "))
		hints = append(hints, "a profile clone copied the vault; remove the copy: rm -r "+strings.Join(quoted, " "))
	}
	if len(details) == 0 {
		c.Detail = fmt.Sprintf("%d profile(s); no orphaned records, no copied vault", len(homes)-1)
		if facts.contents == nil {
			c.Detail += " (vault not read: orphaned records not checked)"
		}
		return c
	}
	c.Status = checkWarn
	c.Detail = strings.Join(details, "; ")
	c.Hint = strings.Join(hints, "; ")
	return c
}
