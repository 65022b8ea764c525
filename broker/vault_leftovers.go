package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hermes-keys/hermes-keys/internal/lazyre"
	"github.com/hermes-keys/hermes-keys/internal/lockfile"
	"github.com/hermes-keys/hermes-keys/internal/xerr"
)

// vaultTempRE matches the temp files of the vault's own writers:
// ".vault.age.tmp.<hex>" (writeVerified) and ".vault.json.tmp.<hex>"
// (atomicfile's default name). Nothing else in the directory is touched.
var vaultTempRE = lazyre.New(`^\.vault\.(age|json)\.tmp\.[0-9a-f]{8,64}$`)

// RemoveStaleTemps removes the temp files that crashed vault writes left in
// the vault directory dir, and returns their paths. It holds vault.lock
// meanwhile: every vault write happens under it, so no temp file it finds
// belongs to a write still in progress. A temp file never holds anything
// the vault lacks: it is the vault's next state, which either was renamed
// into place (and the temp name is gone) or was not and was never
// acknowledged to anyone.
func RemoveStaleTemps(ctx context.Context, dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var temps []string
	for _, e := range ents {
		if e.Type().IsRegular() && vaultTempRE.MatchString(e.Name()) {
			temps = append(temps, filepath.Join(dir, e.Name()))
		}
	}
	if len(temps) == 0 {
		return nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	lk, err := lockfile.Acquire(lctx, filepath.Join(dir, LockFile), 0)
	if errors.Is(err, lockfile.ErrTimeout) {
		return nil, xerr.WithCode(fmt.Errorf("%w (%s)", ErrLockTimeout, filepath.Join(dir, LockFile)), xerr.ExitLockTimeout)
	}
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	var removed []string
	for _, p := range temps {
		if err := os.Remove(p); err == nil {
			removed = append(removed, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
	}
	return removed, nil
}
