package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hermes-keys/hermes-keys/internal/atomicfile"
	"github.com/hermes-keys/hermes-keys/internal/safefs"
)

// afterTempWritten, when set (by tests only), runs once the temp file is
// synced and closed, before it is read back: a test corrupts it there to
// see that a write that does not read back replaces nothing.
var afterTempWritten func(tmp string)

// writeVerified replaces path with data as atomicfile.Write does (temp file
// O_EXCL at 0600, fsync, rename, directory fsync, the same fault-point
// steps), but between the fsync and the rename it reads the temp file back
// and hands its bytes to verify: an error there removes the temp file and
// leaves path as it was. The temp file is ".vault.age.tmp.<hex>".
func writeVerified(path string, data []byte, verify func([]byte) error) (err error) {
	dir := filepath.Dir(path)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp."+hex.EncodeToString(rnd[:]))
	f, err := safefs.OpenNoFollow(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create a temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if runtime.GOOS != "windows" {
		// The umask may have taken bits away; the mode must be exactly 0600.
		if err = f.Chmod(0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", tmp, err)
		}
	}
	hook(atomicfile.StepTempCreated)
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	hook(atomicfile.StepTempWritten)
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	hook(atomicfile.StepTempSynced)
	if afterTempWritten != nil {
		afterTempWritten(tmp)
	}
	// Read back what the file system holds, not what we meant to write.
	rf, err := safefs.OpenNoFollow(tmp, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("%w: reopen %s: %v", ErrVerify, tmp, err)
	}
	got, err := io.ReadAll(io.LimitReader(rf, maxVaultSize+1))
	rf.Close()
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrVerify, tmp, err)
	}
	if err = verify(got); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename over %s: %w", path, err)
	}
	hook(atomicfile.StepRenamed)
	atomicfile.SyncDir(dir)
	return nil
}

func hook(step string) {
	if h := atomicfile.Hook; h != nil {
		h(step)
	}
}
