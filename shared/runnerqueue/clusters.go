package runnerqueue

import (
	"context"
	"encoding/json"
)

// ClusterState is what the runners of one Ray cluster read of it: whether it is draining.
type ClusterState struct {
	Name     string
	Draining bool
}

// clusterValue is a cluster's field in the clusters hash, as the runner reads it
// (shared/rayjob/runner_cluster.py).
type clusterValue struct {
	Draining bool `json:"draining"`
}

// WriteClusters writes the clusters' states into the clusters hash in one HSET, which the runners
// read at most every second: a runner of a draining cluster reads and reclaims nothing new and
// finishes what it holds. The functions call it at start and on every reconcile pass, so the
// configuration is the one switch (a cluster no longer listed keeps its last state: a runner of
// it is gone or being removed).
func (r *Queue) WriteClusters(ctx context.Context, states []ClusterState) error {
	if len(states) == 0 {
		return nil
	}
	values := make([]any, 0, 2*len(states))
	for _, st := range states {
		raw, err := json.Marshal(clusterValue{Draining: st.Draining})
		if err != nil {
			return err
		}
		values = append(values, st.Name, string(raw))
	}
	return redisError(r.rdb.HSet(ctx, r.keys.Clusters(), values...).Err(), "write the clusters' states")
}
