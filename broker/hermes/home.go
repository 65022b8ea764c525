package hermes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/hermes-keys/hermes-keys/internal/lazyre"
	"github.com/hermes-keys/hermes-keys/internal/safefs"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// File names inside a Hermes home (reference §1.3).
const (
	AuthFile           = "auth.json"
	AuthLockFile       = "auth.lock"
	EnvFileName        = ".env"
	AnthropicOAuthFile = ".anthropic_oauth.json"
	SharedNousFile     = "nous_auth.json"
	SharedNousLockFile = "nous_auth.lock"
	ProfilesDir        = "profiles"
	SnapshotsDir       = "state-snapshots"
	activeProfileFile  = "active_profile"
)

// DefaultProfile is the name Hermes gives the root home.
const DefaultProfile = "default"

// Home is one Hermes home: the root itself or one of its profiles.
type Home struct {
	// Root is the Hermes root: the platform default, or HERMES_HOME when
	// it lies elsewhere (with /profiles/<name> taken off).
	Root string
	// Dir is this home's directory: Root, or Root/profiles/<Profile>.
	Dir string
	// Profile is the profile's name, "" for the root.
	Profile string
	// SharedDir holds the shared Nous store: HERMES_SHARED_AUTH_DIR, else
	// Root/shared.
	SharedDir string
}

var profileNameRE = lazyre.New(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// IsProfileID reports whether s is a profile id as Hermes 0.19.0 writes
// them (_PROFILE_ID_RE): what it accepts from -p before anything else, and
// what names a profile directory. Reserved names are ValidateProfile's
// concern, not this one's.
func IsProfileID(s string) bool { return profileNameRE.MatchString(s) }

// reservedProfiles are names Hermes 0.19.0 refuses for a profile
// (hermes_cli/profiles.py _RESERVED_NAMES; "default" is the root).
var reservedProfiles = map[string]bool{"hermes": true, "test": true, "tmp": true, "root": true, "sudo": true}

// NormalizeProfile is Hermes's normalize_profile_name: the name stripped of
// surrounding whitespace (Python's idea of it) and lowercased as Python's
// str.lower does; "default" in any case is "default". An empty name stays
// empty.
func NormalizeProfile(name string) string {
	s := strings.TrimFunc(name, pySpace)
	if strings.EqualFold(s, DefaultProfile) {
		return DefaultProfile
	}
	return pyLower(s)
}

// pySpace is Python's str.isspace for one rune: Go's unicode.IsSpace plus
// the four information separators U+001C..U+001F.
func pySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// pyLower is Python's str.lower: Go's per-rune lowering, except that
// U+0130 (İ) becomes "i" followed by U+0307, as Python's full case mapping
// has it (so the result is no profile name, as in Hermes).
func pyLower(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\u0130' {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// ValidateProfile returns the canonical form of a profile name as Hermes's
// resolve_profile_env makes it (NormalizeProfile; "default" means the root
// and gives ""), or an error wrapping ErrBadProfile for a name Hermes
// refuses: empty, not matching [a-z0-9][a-z0-9_-]{0,63}, or reserved.
func ValidateProfile(name string) (string, error) {
	canon := NormalizeProfile(name)
	if canon == DefaultProfile {
		return "", nil
	}
	if canon == "" {
		return "", fmt.Errorf("%w: the name is empty", ErrBadProfile)
	}
	if !profileNameRE.MatchString(canon) {
		return "", fmt.Errorf("%w: must match [a-z0-9][a-z0-9_-]{0,63}", ErrBadProfile)
	}
	if reservedProfiles[canon] {
		return "", fmt.Errorf("%w: %s is reserved by hermes", ErrBadProfile, canon)
	}
	return canon, nil
}

// PlatformDefault returns Hermes's default home for goos: ~/.hermes, or on
// Windows %LOCALAPPDATA%\hermes (~/AppData/Local/hermes without
// LOCALAPPDATA).
func PlatformDefault(env iox.Env, goos, homeDir string) string {
	if goos == "windows" {
		if la := env.Get("LOCALAPPDATA"); la != "" {
			return filepath.Join(la, "hermes")
		}
		return filepath.Join(homeDir, "AppData", "Local", "hermes")
	}
	return filepath.Join(homeDir, ".hermes")
}

// Resolve finds the home Hermes would use, as hermes_constants and
// hermes_cli/profiles do:
//   - the home is HERMES_HOME when set (trimmed, non-empty), else the
//     platform default;
//   - the root is the platform default when the home lies under it, the
//     grandparent when the home's parent is named "profiles", else the home;
//   - profile (as given by -p) selects Root/profiles/<profile>; "default"
//     selects the root;
//   - without profile, and with HERMES_HOME unset or naming the root, the
//     sticky <root>/active_profile applies (Hermes ignores it when
//     HERMES_S6_SUPERVISED_CHILD is set);
//   - a HERMES_HOME that is a profile directory is that profile.
//
// It reads the file system only to resolve symbolic links for the "lies
// under" test and to read active_profile.
func Resolve(env iox.Env, goos, homeDir, profile string) (Home, error) {
	native := filepath.Clean(PlatformDefault(env, goos, homeDir))
	knownNative := homeDir != "" || goos == "windows" && env.Get("LOCALAPPDATA") != ""
	envHome := env.Get("HERMES_HOME")
	if envHome == "" && !knownNative {
		return Home{}, xerr.WithHint(errors.New("cannot tell where the hermes home is: no home directory"),
			"set HERMES_HOME, or pass --hermes-home")
	}
	dir := native
	if envHome != "" {
		dir = filepath.Clean(envHome)
	}
	root := native
	if envHome != "" && (!knownNative || !within(realPath(dir), realPath(native))) {
		if filepath.Base(filepath.Dir(dir)) == ProfilesDir {
			root = filepath.Dir(filepath.Dir(dir))
		} else {
			root = dir
		}
	}
	h := Home{Root: root, Dir: dir, SharedDir: filepath.Join(root, "shared")}
	if sd := env.Get("HERMES_SHARED_AUTH_DIR"); sd != "" {
		h.SharedDir = filepath.Clean(sd)
	}

	if profile != "" {
		canon, err := ValidateProfile(profile)
		if err != nil {
			return Home{}, err
		}
		return h.withProfile(canon), nil
	}
	if samePath(dir, root) {
		h.Dir = root
		if env.Get("HERMES_S6_SUPERVISED_CHILD") == "" {
			p, ok, err := readActiveProfile(h)
			if err != nil {
				return Home{}, err
			}
			if ok {
				return p, nil
			}
		}
		return h, nil
	}
	// HERMES_HOME names a directory below the root: a profile when it is
	// <root>/profiles/<name>.
	if samePath(filepath.Dir(dir), filepath.Join(root, ProfilesDir)) {
		if canon, err := ValidateProfile(filepath.Base(dir)); err == nil && canon != "" {
			h.Profile = canon
		}
	}
	return h, nil
}

func (h Home) withProfile(canon string) Home {
	if canon == "" {
		h.Dir, h.Profile = h.Root, ""
		return h
	}
	h.Dir = filepath.Join(h.Root, ProfilesDir, canon)
	h.Profile = canon
	return h
}

// readActiveProfile reads the sticky profile as Hermes 0.19.0's
// _apply_profile_override does: a missing, unreadable, non-UTF-8 or empty
// file, or "default", means the root; any other name is resolved like -p,
// so a name Hermes refuses (ErrBadProfile) or a profile that does not
// exist (ErrNoProfile) is an error, as Hermes then refuses to start.
func readActiveProfile(h Home) (Home, bool, error) {
	b, err := readSmall(filepath.Join(h.Root, activeProfileFile), 4096)
	if err != nil || b == nil || !utf8.Valid(b) {
		return h, false, nil
	}
	name := strings.TrimFunc(string(b), pySpace)
	if name == "" || name == DefaultProfile {
		return h, false, nil
	}
	canon, err := ValidateProfile(name)
	if err != nil {
		return h, false, fmt.Errorf("%s: %w", filepath.Join(h.Root, activeProfileFile), err)
	}
	if canon == "" {
		return h, false, nil
	}
	p := h.withProfile(canon)
	if !p.Exists() {
		return h, false, xerr.WithHint(fmt.Errorf("%s names profile %s: %w", filepath.Join(h.Root, activeProfileFile), canon, ErrNoProfile),
			"Hermes refuses to start like this too; choose a profile with `hermes profile use NAME`, or `hermes profile use default`")
	}
	return p, true, nil
}

// IsRoot reports whether h is the root home.
func (h Home) IsRoot() bool { return h.Profile == "" && samePath(h.Dir, h.Root) }

// RootHome returns the root home of h's root, where profile reads fall
// back per provider and rotated single-use grants are written through.
func (h Home) RootHome() Home { return h.withProfile("") }

// WithProfile returns the home of the named profile under h's root.
func (h Home) WithProfile(name string) (Home, error) {
	canon, err := ValidateProfile(name)
	if err != nil {
		return Home{}, err
	}
	return h.withProfile(canon), nil
}

// Profiles returns the root home followed by every profile under
// Root/profiles, sorted by name. Directories whose names Hermes would not
// accept (.deleted, for instance) are skipped.
func (h Home) Profiles() ([]Home, error) {
	out := []Home{h.RootHome()}
	ents, err := os.ReadDir(filepath.Join(h.Root, ProfilesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() || !profileNameRE.MatchString(e.Name()) || e.Name() == DefaultProfile {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, h.withProfile(n))
	}
	return out, nil
}

// AuthPath is the home's auth.json.
func (h Home) AuthPath() string { return filepath.Join(h.Dir, AuthFile) }

// LockPath is the lock Hermes takes around auth.json: auth.lock beside it.
func (h Home) LockPath() string { return filepath.Join(h.Dir, AuthLockFile) }

// EnvPath is the home's .env.
func (h Home) EnvPath() string { return filepath.Join(h.Dir, EnvFileName) }

// AnthropicOAuthPath is Hermes's own Anthropic login of this home.
func (h Home) AnthropicOAuthPath() string { return filepath.Join(h.Dir, AnthropicOAuthFile) }

// SharedNousPath is the Nous store shared by every home of the root.
func (h Home) SharedNousPath() string { return filepath.Join(h.SharedDir, SharedNousFile) }

// SharedNousLockPath is the lock of the shared Nous store.
func (h Home) SharedNousLockPath() string { return filepath.Join(h.SharedDir, SharedNousLockFile) }

// realPath resolves symbolic links as far as the path exists.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	// Resolve the longest existing ancestor and keep the rest.
	parent, rest := filepath.Dir(p), filepath.Base(p)
	if parent == p {
		return p
	}
	return filepath.Join(realPath(parent), rest)
}

// within reports whether p is base or lies below it.
func within(p, base string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func samePath(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b) || realPath(a) == realPath(b)
}

// CheckOwned refuses a home that is not the caller's, as git refuses a
// repository of another owner (safe.directory): the root, this home's
// directory and the shared directory, each where it exists (a symbolic
// link judged by what it points to), must belong to the caller's uid.
// Acting as root on a user's home would otherwise follow links that user
// planted (auth.lock -> /etc/nologin) with root's rights. The error
// matches safefs.ErrForeignOwner and hints at running as the owner.
func (h Home) CheckOwned() error {
	for _, p := range []string{h.Root, h.Dir, filepath.Join(h.Root, ProfilesDir), h.SharedDir} {
		if err := safefs.CheckOwner(p); err != nil {
			return foreignHome(err)
		}
	}
	return nil
}

// foreignHome explains a refusal of CheckOwned, or passes err on.
func foreignHome(err error) error {
	var fe *safefs.ForeignOwnerError
	if !errors.As(err, &fe) {
		return err
	}
	return xerr.Hintf(fmt.Errorf("refusing to act on a hermes home that is not yours: %w", err),
		"hermes-keys acts only on Hermes files its caller owns, so that nobody's planted links are followed with another user's rights; run it as the owner: sudo -u %s hermes-keys …", safefs.User(fe.UID))
}
