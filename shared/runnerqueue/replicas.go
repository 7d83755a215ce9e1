package runnerqueue

import (
	"context"
	"encoding/json"
)

// ReplicaFigures is what one runner replica last wrote to the replicas hash (every heartbeat):
// the deliberations it held, the most model calls it had on the wire at once, its event loop's
// lag p99 and when it wrote them (unix ms).
type ReplicaFigures struct {
	InFlight     int     `json:"in_flight"`
	PeakCalls    int     `json:"peak_calls"`
	LoopLagP99Ms float64 `json:"loop_lag_p99_ms"`
	UpdatedMs    int64   `json:"updated_ms"`
}

// Replicas reads the figures of every runner replica that has not stopped cleanly, by consumer
// name. A value that is not the runner's JSON is skipped: the figures inform, nothing depends on
// them.
func (r *Queue) Replicas(ctx context.Context) (map[string]ReplicaFigures, error) {
	raw, err := r.rdb.HGetAll(ctx, r.keys.Replicas()).Result()
	if err != nil {
		return nil, redisError(err, "read the runner replicas")
	}
	out := make(map[string]ReplicaFigures, len(raw))
	for name, value := range raw {
		var f ReplicaFigures
		if json.Unmarshal([]byte(value), &f) == nil {
			out[name] = f
		}
	}
	return out, nil
}
