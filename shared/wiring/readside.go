package wiring

import (
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/transport"
)

// readSide is the backend of the read-only functions (get-stats, get-active-jobs): app.Reads over
// the state store, and no other use case. Nothing in it holds a Ray port or a publisher.
func readSide(store app.ReadStore) transport.Backend {
	reads := app.Reads{Store: store, Clock: app.SystemClock{}}
	return transport.Backend{Stats: transport.StatsFunc(reads.Stats), Jobs: transport.JobsFunc(reads.ActiveJobs)}
}
