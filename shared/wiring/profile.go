//go:build profile

package wiring

import (
	"os"
	"runtime/pprof"
)

// With the profile build tag (used by `the bench's -profile flag`), a function writes its
// CPU profile to $CPU_PROFILE from start to Stop. Production binaries never carry this file.
func init() {
	path := os.Getenv("CPU_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return
	}
	stopProfile = func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
