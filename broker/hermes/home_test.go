package hermes

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/hermes-keys/hermes-keys/internal/iox"
)

func envOf(m map[string]string) iox.Env { return iox.MapEnv(m) }

func TestResolve(t *testing.T) {
	user := tempDir(t)
	native := filepath.Join(user, ".hermes")
	docker := filepath.Join(tempDir(t), "data")
	sticky := filepath.Join(tempDir(t), "sticky")
	os.MkdirAll(sticky, 0o700)
	os.WriteFile(filepath.Join(sticky, "active_profile"), []byte("Work\n"), 0o600)
	os.MkdirAll(filepath.Join(sticky, "profiles", "work"), 0o700)
	badSticky := filepath.Join(tempDir(t), "badsticky")
	os.MkdirAll(badSticky, 0o700)
	os.WriteFile(filepath.Join(badSticky, "active_profile"), []byte("../../etc\n"), 0o600)
	goneSticky := filepath.Join(tempDir(t), "gonesticky")
	os.MkdirAll(goneSticky, 0o700)
	os.WriteFile(filepath.Join(goneSticky, "active_profile"), []byte("gone\n"), 0o600)
	defaultSticky := filepath.Join(tempDir(t), "defaultsticky")
	os.MkdirAll(defaultSticky, 0o700)
	os.WriteFile(filepath.Join(defaultSticky, "active_profile"), []byte(" default \n"), 0o600)
	binSticky := filepath.Join(tempDir(t), "binsticky")
	os.MkdirAll(binSticky, 0o700)
	os.WriteFile(filepath.Join(binSticky, "active_profile"), []byte("w\xffork"), 0o600)

	cases := []struct {
		name    string
		env     map[string]string
		goos    string
		profile string
		want    Home
		err     error
	}{
		{"default", nil, "linux", "", Home{Root: native, Dir: native}, nil},
		{"HERMES_HOME is the default", map[string]string{"HERMES_HOME": native + "/"}, "linux", "",
			Home{Root: native, Dir: native}, nil},
		{"profile flag", nil, "linux", "work", Home{Root: native, Dir: filepath.Join(native, "profiles", "work"), Profile: "work"}, nil},
		{"profile flag is normalised", nil, "darwin", " Work ", Home{Root: native, Dir: filepath.Join(native, "profiles", "work"), Profile: "work"}, nil},
		{"default profile is the root", nil, "linux", "default", Home{Root: native, Dir: native}, nil},
		{"HERMES_HOME is a profile under the default root", map[string]string{"HERMES_HOME": filepath.Join(native, "profiles", "dev")}, "linux", "",
			Home{Root: native, Dir: filepath.Join(native, "profiles", "dev"), Profile: "dev"}, nil},
		{"docker root", map[string]string{"HERMES_HOME": docker}, "linux", "", Home{Root: docker, Dir: docker}, nil},
		{"HERMES_HOME is a profile of a custom root", map[string]string{"HERMES_HOME": filepath.Join(docker, "profiles", "bot")}, "linux", "",
			Home{Root: docker, Dir: filepath.Join(docker, "profiles", "bot"), Profile: "bot"}, nil},
		{"flag beats a profile HERMES_HOME", map[string]string{"HERMES_HOME": filepath.Join(docker, "profiles", "bot")}, "linux", "other",
			Home{Root: docker, Dir: filepath.Join(docker, "profiles", "other"), Profile: "other"}, nil},
		{"sticky active_profile", map[string]string{"HERMES_HOME": sticky}, "linux", "",
			Home{Root: sticky, Dir: filepath.Join(sticky, "profiles", "work"), Profile: "work"}, nil},
		{"sticky ignored under s6", map[string]string{"HERMES_HOME": sticky, "HERMES_S6_SUPERVISED_CHILD": "1"}, "linux", "",
			Home{Root: sticky, Dir: sticky}, nil},
		{"sticky ignored with a flag", map[string]string{"HERMES_HOME": sticky}, "linux", "default",
			Home{Root: sticky, Dir: sticky}, nil},
		// Hermes 0.19.0 refuses to start on these (resolve_profile_env
		// raises), so hermes-keys must not fall back to the root's keys.
		{"bad sticky name is refused", map[string]string{"HERMES_HOME": badSticky}, "linux", "", Home{}, ErrBadProfile},
		{"sticky profile that does not exist is refused", map[string]string{"HERMES_HOME": goneSticky}, "linux", "", Home{}, ErrNoProfile},
		{"sticky default is the root", map[string]string{"HERMES_HOME": defaultSticky}, "linux", "",
			Home{Root: defaultSticky, Dir: defaultSticky}, nil},
		{"sticky that is not utf-8 means the root", map[string]string{"HERMES_HOME": binSticky}, "linux", "",
			Home{Root: binSticky, Dir: binSticky}, nil},
		{"profile flag WORK", nil, "linux", "WORK", Home{Root: native, Dir: filepath.Join(native, "profiles", "work"), Profile: "work"}, nil},
		{"profile flag with Python whitespace", nil, "linux", "\x1c\u00a0work\t", Home{Root: native, Dir: filepath.Join(native, "profiles", "work"), Profile: "work"}, nil},
		{"DEFAULT is the root", nil, "linux", "DEFAULT", Home{Root: native, Dir: native}, nil},
		{"reserved name", nil, "linux", "test", Home{}, ErrBadProfile},
		{"reserved name in capitals", nil, "linux", "Hermes", Home{}, ErrBadProfile},
		{"empty after trimming", nil, "linux", "  ", Home{}, ErrBadProfile},
		{"dotted capital I lowers to two runes in Python", nil, "linux", "\u0130x", Home{}, ErrBadProfile},
		{"windows LOCALAPPDATA", map[string]string{"LOCALAPPDATA": filepath.Join(user, "AppData", "Local")}, "windows", "",
			Home{Root: filepath.Join(user, "AppData", "Local", "hermes"), Dir: filepath.Join(user, "AppData", "Local", "hermes")}, nil},
		{"windows without LOCALAPPDATA", nil, "windows", "",
			Home{Root: filepath.Join(user, "AppData", "Local", "hermes"), Dir: filepath.Join(user, "AppData", "Local", "hermes")}, nil},
		{"traversal", nil, "linux", "../../etc", Home{}, ErrBadProfile},
		{"slash", nil, "linux", "a/b", Home{}, ErrBadProfile},
		{"dot", nil, "linux", ".deleted", Home{}, ErrBadProfile},
		{"too long", nil, "linux", "a234567890123456789012345678901234567890123456789012345678901234x", Home{}, ErrBadProfile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(envOf(c.env), c.goos, user, c.profile)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			c.want.SharedDir = filepath.Join(c.want.Root, "shared")
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestResolveSymlinkedHomeUnderDefault(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	user := tempDir(t)
	native := filepath.Join(user, ".hermes")
	os.MkdirAll(filepath.Join(native, "profiles", "w"), 0o700)
	link := filepath.Join(tempDir(t), "h")
	if err := os.Symlink(filepath.Join(native, "profiles", "w"), link); err != nil {
		t.Skip("no symlinks")
	}
	// Resolved, the link lies under ~/.hermes: the root is ~/.hermes.
	h, err := Resolve(envOf(map[string]string{"HERMES_HOME": link}), "linux", user, "")
	if err != nil || h.Root != native {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestHomePaths(t *testing.T) {
	h, err := Resolve(envOf(map[string]string{"HERMES_HOME": "/srv/hermes", "HERMES_SHARED_AUTH_DIR": "/srv/shared-auth"}), "linux", "/home/u", "bot")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		h.AuthPath():            "/srv/hermes/profiles/bot/auth.json",
		h.LockPath():            "/srv/hermes/profiles/bot/auth.lock",
		h.EnvPath():             "/srv/hermes/profiles/bot/.env",
		h.AnthropicOAuthPath():  "/srv/hermes/profiles/bot/.anthropic_oauth.json",
		h.SharedNousPath():      "/srv/shared-auth/nous_auth.json",
		h.SharedNousLockPath():  "/srv/shared-auth/nous_auth.lock",
		h.RootHome().AuthPath(): "/srv/hermes/auth.json",
	} {
		if filepath.ToSlash(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	if h.IsRoot() || !h.RootHome().IsRoot() {
		t.Error("IsRoot")
	}
}

func TestProfiles(t *testing.T) {
	root := tempDir(t)
	for _, d := range []string{"profiles/b", "profiles/a", "profiles/.deleted", "profiles/Bad Name", "profiles/default"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	os.WriteFile(filepath.Join(root, "profiles", "afile"), nil, 0o600)
	h, _ := Resolve(envOf(map[string]string{"HERMES_HOME": root}), "linux", "/nonexistent", "")
	hs, err := h.Profiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range hs {
		names = append(names, x.Profile)
	}
	if !reflect.DeepEqual(names, []string{"", "a", "b"}) {
		t.Fatalf("profiles %q", names)
	}
	// From a profile, Profiles still lists the whole root.
	w, _ := h.WithProfile("b")
	hs2, _ := w.Profiles()
	if len(hs2) != 3 || hs2[0].Dir != root {
		t.Fatalf("from a profile: %+v", hs2)
	}
	if _, err := h.WithProfile("../x"); !errors.Is(err, ErrBadProfile) {
		t.Fatal(err)
	}
}

func TestResolveWithoutHomeDir(t *testing.T) {
	if _, err := Resolve(envOf(nil), "linux", "", ""); err == nil {
		t.Fatal("no home and no HERMES_HOME should be an error")
	}
	h, err := Resolve(envOf(map[string]string{"HERMES_HOME": "/opt/data/profiles/p"}), "linux", "", "")
	if err != nil || filepath.ToSlash(h.Root) != "/opt/data" || h.Profile != "p" {
		t.Fatalf("%+v %v", h, err)
	}
}
