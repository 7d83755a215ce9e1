package wiring

import (
	"log/slog"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/transport"
)

// readSide is the backend of the read-only functions (get-stats, get-active-jobs): the stats and
// the page of active jobs over the state store, and no other use case. It holds the two use cases
// as functions, so nothing reachable from their handlers leads to a Ray port or a publisher; the
// service behind them is built without either, and the two use cases never reach for them.
func readSide(store app.StateStore, s app.Settings, log *slog.Logger) transport.Backend {
	svc := app.NewService(store, nil, nil, s, log)
	return transport.Backend{Stats: transport.StatsFunc(svc.Stats), Jobs: transport.JobsFunc(svc.ActiveJobs)}
}
