package hermes

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// The marker of a sealed auth.json names the home it was sealed for (its
// "profile" member: a profile name, or "default" for the root). Hermes
// moves and copies whole profile directories (`hermes profile rename`,
// `create --clone-all`), skeleton included, so a skeleton whose marker
// names another home says where its sealed records are: a rename when that
// home's directory is gone, a clone when it is still there.

// ProfileLabel is the marker's name for the home of profile ("" is the
// root: "default", as Hermes calls it).
func ProfileLabel(profile string) string {
	if profile == "" {
		return DefaultProfile
	}
	return profile
}

// ProfileOfLabel is ProfileLabel's inverse: "" for "default".
func ProfileOfLabel(label string) string {
	if label == DefaultProfile {
		return ""
	}
	return label
}

// MarkerProfile returns the home label doc's marker names and whether it
// names one (markers written before profiles were recorded do not). A
// label Hermes would not accept as a profile name gives ok false.
func MarkerProfile(doc *Object) (label string, ok bool) {
	if doc == nil {
		return "", false
	}
	v, has := doc.Get(MarkerKey)
	if !has {
		return "", false
	}
	var m struct {
		Profile string `json:"profile"`
	}
	if json.Unmarshal(v, &m) != nil || m.Profile == "" {
		return "", false
	}
	if m.Profile != DefaultProfile && !profileNameRE.MatchString(m.Profile) {
		return "", false
	}
	return m.Profile, true
}

// SetMarkerProfile makes doc's marker name the home label, keeping every
// other member of the marker as it is. It reports whether doc changed; a
// doc without a marker object is left alone.
func SetMarkerProfile(doc *Object, label string) bool {
	v, has := doc.Get(MarkerKey)
	if !has {
		return false
	}
	m, err := ParseObject(v)
	if err != nil {
		return false
	}
	want, _ := json.Marshal(label)
	if cur, ok := m.Get("profile"); ok && string(cur) == string(want) {
		return false
	}
	m.Set("profile", want)
	raw, err := m.MarshalJSON()
	if err != nil {
		return false
	}
	doc.Set(MarkerKey, raw)
	return true
}

// Exists reports whether the home's directory exists: the root always
// counts; a profile exists exactly when Hermes's profile_exists would say
// so (its directory under <root>/profiles).
func (h Home) Exists() bool {
	fi, err := os.Stat(h.Dir)
	return err == nil && fi.IsDir()
}

// ProfileDirExists reports whether the root of h has a profile directory
// named profile ("" is the root itself).
func (h Home) ProfileDirExists(profile string) bool {
	if profile == "" {
		return true
	}
	fi, err := os.Stat(filepath.Join(h.Root, ProfilesDir, profile))
	return err == nil && fi.IsDir()
}
