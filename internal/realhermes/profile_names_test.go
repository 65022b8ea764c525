//go:build linux

package realhermes

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/broker/hermes"
)

// profileNamesPy resolves each name (one JSON string a line on stdin) as
// Hermes 0.19.0's resolve_profile_env does before it looks at the disk:
// normalize_profile_name, then validate_profile_name.
const profileNamesPy = `
import json, sys
from hermes_cli.profiles import normalize_profile_name, validate_profile_name
for line in sys.stdin:
    name = json.loads(line)
    try:
        canon = normalize_profile_name(name)
        validate_profile_name(canon)
        print(json.dumps({"ok": True, "canon": canon}))
    except ValueError:
        print(json.dumps({"ok": False}))
`

// hermes-keys canonicalises and refuses profile names exactly as the real
// Hermes does (issue 10 item 5): case, Python's whitespace, reserved
// names, Unicode whose lowercase Python and Go spell differently.
func TestRealHermesProfileNames(t *testing.T) {
	py := filepath.Join(filepath.Dir(hermesBin(t)), "python")
	names := []string{"work", "WORK", " work", "work ", "\twork\n", "\x1cwork\x1f", "\u00a0work\u2003", "\u0085work",
		"Default", "DEFAULT", " default ", "default", "", " ", "test", "Test", "hermes", "root", "sudo", "tmp",
		"../x", "a/b", ".deleted", "a.b", "-x", "_x", "x_y-z", "x" + strings.Repeat("y", 63), "x" + strings.Repeat("y", 64),
		"\u212aey", "\u0130x", "\u00dfx", "ﬀ", "Ωmega", "w\u200bork", "work\x00", "\ufeffwork"}
	var in strings.Builder
	for _, n := range names {
		b, _ := json.Marshal(n)
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(py, "-c", profileNamesPy)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", py, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(names) {
		t.Fatalf("python answered %d lines for %d names:\n%s", len(lines), len(names), out)
	}
	for i, n := range names {
		var want struct {
			OK    bool   `json:"ok"`
			Canon string `json:"canon"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatal(err)
		}
		if want.Canon == "default" {
			want.Canon = "" // hermes-keys names the root ""
		}
		got, err := hermes.ValidateProfile(n)
		if (err == nil) != want.OK || want.OK && got != want.Canon {
			t.Errorf("profile %q: hermes-keys gives %q, %v; Hermes ok=%v %q", n, got, err, want.OK, want.Canon)
		}
	}
}
