package hermes

import (
	"strings"
	"testing"
)

// TestMarkerProfile: the marker's profile member is read back, a label
// Hermes would not accept as a profile name is ignored (it could name a
// path outside <root>/profiles), and SetMarkerProfile changes that member
// only.
func TestMarkerProfile(t *testing.T) {
	for _, c := range []struct {
		doc   string
		label string
		ok    bool
	}{
		{`{"hermes_keys": {"sealed": true, "vault_id": "v", "profile": "work"}}`, "work", true},
		{`{"hermes_keys": {"sealed": true, "vault_id": "v", "profile": "default"}}`, "default", true},
		{`{"hermes_keys": {"sealed": true, "vault_id": "v"}}`, "", false},
		{`{"hermes_keys": {"profile": "../../etc"}}`, "", false},
		{`{"hermes_keys": {"profile": "Work"}}`, "", false},
		{`{"hermes_keys": {"profile": 7}}`, "", false},
		{`{"hermes_keys": "sealed"}`, "", false},
		{`{}`, "", false},
	} {
		doc, err := ParseDoc([]byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := MarkerProfile(doc); l != c.label || ok != c.ok {
			t.Errorf("MarkerProfile(%s) = %q, %v; want %q, %v", c.doc, l, ok, c.label, c.ok)
		}
	}
	doc, _ := ParseDoc([]byte(`{"a": 1, "hermes_keys": {"sealed": true, "vault_id": "v1", "sealed_at": "t", "run": "r", "profile": "work"}, "z": 2}`))
	if !SetMarkerProfile(doc, "work2") {
		t.Fatal("no change reported")
	}
	if SetMarkerProfile(doc, "work2") {
		t.Error("a second identical stamp reported a change")
	}
	b, _ := doc.MarshalJSON()
	want := `{"a":1,"hermes_keys":{"sealed":true,"vault_id":"v1","sealed_at":"t","run":"r","profile":"work2"},"z":2}`
	if string(b) != want {
		t.Errorf("stamped doc\n%s\nwant\n%s", b, want)
	}
	if MarkerVaultID(doc) != "v1" {
		t.Error("the stamp lost the vault id")
	}
	plain, _ := ParseDoc([]byte(`{"version": 1}`))
	if SetMarkerProfile(plain, "work") || plain.Index(MarkerKey) >= 0 {
		t.Error("a store without a marker got one")
	}
	if ProfileLabel("") != "default" || ProfileOfLabel("default") != "" || ProfileOfLabel(ProfileLabel("w")) != "w" {
		t.Error("labels do not round-trip")
	}
}

// FuzzMarkerProfile: the marker of an auth.json (untrusted input) never
// makes MarkerProfile panic or return a name that could leave
// <root>/profiles, and a stamp reads back.
func FuzzMarkerProfile(f *testing.F) {
	f.Add([]byte(`{"hermes_keys": {"sealed": true, "vault_id": "v", "profile": "work"}}`))
	f.Add([]byte(`{"hermes_keys": {"profile": "../x"}}`))
	f.Add([]byte(`{"hermes_keys": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDoc(data)
		if err != nil {
			return
		}
		if l, ok := MarkerProfile(doc); ok {
			if l != DefaultProfile && !profileNameRE.MatchString(l) || strings.ContainsAny(l, `/\.`) {
				t.Fatalf("label %q accepted", l)
			}
		}
		if SetMarkerProfile(doc, "p2") {
			if l, ok := MarkerProfile(doc); !ok || l != "p2" {
				t.Fatalf("stamp reads back %q, %v", l, ok)
			}
			if _, err := doc.Marshal(); err != nil {
				t.Fatalf("stamped doc does not marshal: %v", err)
			}
		}
	})
}
