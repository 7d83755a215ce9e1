package raytest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockServe takes the Serve of the Ray head at addr for the calling test process until unlock.
// Serve's config is one document per cluster, and `go test ./...` runs packages as parallel
// processes on the one test head: two packages that deploy there would replace each other's
// applications. It waits for the holder to let go (the lock is a file lock, so a crashed holder
// lets go too).
func LockServe(addr string) (unlock func(), err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	name := "rxtest-serve-" + strings.NewReplacer(":", "-", "/", "-").Replace(u.Host) + ".lock"
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { _ = f.Close() }, nil
}
