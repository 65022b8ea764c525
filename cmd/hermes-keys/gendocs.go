//go:build gendocs

// The man page generator, for scripts/release only:
//
//	go run -tags gendocs ./cmd/hermes-keys gendocs DIR
//
// It needs the command tree, which lives in package main, so it is a file of
// this package behind a build tag rather than a program of its own: the
// release binary is built without the tag and so carries neither cobra/doc
// nor the markdown-to-roff converter it imports.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hermes-keys/hermes-keys/internal/iox"
	"github.com/spf13/cobra/doc"
)

func init() {
	if len(os.Args) < 2 || os.Args[1] != "gendocs" {
		return
	}
	if err := genDocs(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// genDocs writes hermes-keys.1 and one page per command (hermes-keys-migrate.1
// …) into the directory named by args. The date in the pages' header is
// SOURCE_DATE_EPOCH's, required: pages dated by the clock differ per build.
func genDocs(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: gendocs DIR")
	}
	epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH must be set to a unix time (the commit's): %w", err)
	}
	when := time.Unix(epoch, 0).UTC()
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	root := newRoot(&App{IO: iox.System(), Env: iox.MapEnv(nil), Now: func() time.Time { return when }})
	root.DisableAutoGenTag = true
	v := version
	if v == "dev" {
		v = ""
	}
	return doc.GenManTree(root, &doc.GenManHeader{
		Title:   "HERMES-KEYS",
		Section: "1",
		Date:    &when,
		Source:  "hermes-keys " + v,
		Manual:  "hermes-keys manual",
	}, args[0])
}
