package wiring

import (
	"runtime/debug"
)

// A function's live heap is a few MiB, so Go's default pacing (collect when the heap doubles)
// collects several times a second under load, and every cycle takes one of a small pod's cores
// for a moment: at 1,000 requests/s on two cores that showed as the p99 of status and execute.
// Collecting at five times the live heap costs about 10 MiB more under load, and a soft limit
// well under the pods' 64Mi request keeps the heap from growing further.
const (
	gcPercent     = 400
	gcMemoryLimit = 48 << 20
)

// tuneGC applies the pacing above unless the operator set GOGC or GOMEMLIMIT (lookup reads the
// environment), which the runtime has then applied already.
func tuneGC(lookup func(string) string) {
	if lookup("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if lookup("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}
