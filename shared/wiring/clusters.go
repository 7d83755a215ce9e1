package wiring

import (
	"context"
	"log/slog"
	"time"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// clusterStatesAtStart bounds the write of the clusters' states when a function starts: Redis
// being slow then must not hold up readiness (the next reconcile pass writes them again).
const clusterStatesAtStart = 2 * time.Second

// clusterStatesWriter writes the configured clusters' draining states (RAY_CLUSTERS' draining)
// for the runners, which follow their own cluster's: config is the one switch.
func clusterStatesWriter(q *runnerqueue.Queue, c config.Config) func(context.Context) error {
	states := make([]runnerqueue.ClusterState, 0, len(c.Ray.Clusters))
	for _, rc := range c.Ray.Clusters {
		states = append(states, runnerqueue.ClusterState{Name: rc.Name, Draining: rc.Draining})
	}
	return func(ctx context.Context) error { return q.WriteClusters(ctx, states) }
}

// startClusterStates writes the states once at start, in the background and bounded; the
// returned stop ends the write and waits for it (before Redis is closed).
func startClusterStates(write func(context.Context) error, log *slog.Logger) func() {
	ctx, cancel := context.WithTimeout(context.Background(), clusterStatesAtStart)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := write(ctx); err != nil && ctx.Err() == nil {
			log.Warn("the clusters' draining states not written at start; the reconcile pass writes them", "error", err.Error())
		}
	}()
	return func() { cancel(); <-done }
}
