// Package hermes reads and writes the Hermes agent's credential store the
// way Hermes itself does, and splits it into a secret-free skeleton and
// sealed blocks for the vault (DESIGN.md §4).
//
// What the package promises:
//   - Hermes's home and profile rules: HERMES_HOME, the platform default,
//     <root>/profiles/<name>, a HERMES_HOME that is itself a profile, the
//     sticky active_profile, and profile names that cannot leave the root.
//   - Every write to a Hermes file follows Hermes's protocol: the advisory
//     lock Hermes takes (BSD flock, LockFileEx on byte 0 on Windows), a
//     re-read under that lock, a temp file created with O_EXCL and mode 0600
//     in the same directory, fsync, rename over the real path (a symlink
//     stays a symlink), fsync of the directory. A reader never sees partial
//     JSON and no write ever starts with a byte order mark.
//   - Reading refuses, with a sentinel error and never a panic, what Hermes
//     would treat as corrupt (not JSON, truncated, empty, invalid UTF-8,
//     nested deeper than MaxDepth), what is not an object, files larger than
//     MaxDocSize, and anything that is not a regular file (a FIFO is never
//     opened for a blocking read). A missing file is an empty store.
//   - Documents keep their members, unknown ones included, in their
//     original order, and are written back in the style Hermes writes them
//     (json.dumps with indent=2; see Style).
//   - Secrets are recognised by Hermes's own classifier rule (IsSecretKey).
//     Errors and reports name a secret by its place
//     (providers.nous.refresh_token) and its size, never by its value.
//   - Split never writes half a block and never leaves a secret in the
//     skeleton; Merge only fills in blocks the file lacks, because the file
//     is the truth: Hermes is the one that rotates tokens.
//   - A .env file is rewritten byte for byte except for the lines changed,
//     and values are quoted so that python-dotenv reads them back exactly.
//
// When one operation involves several files, take their locks in Hermes's
// order: the profile's auth.lock, the root's auth.lock, then the shared
// nous_auth.lock.
//
// The package has no vault and no command line: callers store the sealed
// blocks and decide what to tell the user.
package hermes
