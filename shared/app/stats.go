package app

import (
	"context"
	"math"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// StatsReport is the stats response.
type StatsReport struct {
	Status        string                      `json:"status"`
	UptimeSeconds float64                     `json:"uptime_seconds"`
	Stats         deliberation.ExecutionStats `json:"stats"`
}

// Stats reads the counters (Reads.Stats).
func (s *Service) Stats(ctx context.Context) (StatsReport, error) {
	return s.reads().Stats(ctx)
}

// Stats reads the counters; uptime counts from the first state this Redis saw.
func (r Reads) Stats(ctx context.Context) (StatsReport, error) {
	st, since, err := r.Store.Stats(ctx)
	if err != nil {
		return StatsReport{}, err
	}
	uptime := 0.0
	if !since.IsZero() {
		uptime = math.Max(r.Clock.Now().Sub(since).Seconds(), 0)
	}
	return StatsReport{Status: "healthy", UptimeSeconds: math.Round(uptime*1000) / 1000, Stats: st}, nil
}
