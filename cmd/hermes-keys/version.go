package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by scripts/release with -ldflags "-X main.commit=... -X
// main.date=..." (version is in root.go). Empty means: ask the build info.
var (
	commit = ""
	date   = ""
)

// versionInfo is what `version --json` prints; field names are stable.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// resolveVersion fills what the linker flags left unset from the build info
// that `go install …@vX.Y.Z` and `go build` in a git checkout embed, so a
// tagged install never says "dev". Flags win: the release script sets them
// from the same commit.
func resolveVersion(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: ldVersion, Commit: ldCommit, Date: ldDate, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi == nil {
		return v
	}
	if (v.Version == "" || v.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.time":
			if v.Date == "" {
				v.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	// go build in a dirty checkout says so in the version (+dirty) but not
	// in the commit; a commit that is not the source must not pass for it.
	if modified && ldCommit == "" && v.Commit != "" {
		v.Commit += "-dirty"
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

type versionOptions struct {
	json bool
}

func newVersionCmd(app *App) *cobra.Command {
	o := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(app, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON object (version, commit, date, go, os, arch)")
	return cmd
}

func runVersion(app *App, o *versionOptions) error {
	// Read lazily, here only: version must start as fast as a hello world.
	bi, _ := debug.ReadBuildInfo()
	v := resolveVersion(version, commit, date, bi)
	if o.json {
		enc := json.NewEncoder(app.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	c, d := v.Commit, v.Date
	if c == "" {
		c = "unknown commit"
	}
	if d == "" {
		d = "unknown date"
	}
	_, err := fmt.Fprintf(app.IO.Out, "hermes-keys %s (%s, %s, %s, %s/%s)\n", v.Version, c, d, v.Go, v.OS, v.Arch)
	return err
}
