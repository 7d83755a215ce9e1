package app

import (
	"context"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// ReadStore is the part of the state store the read-only use cases need.
type ReadStore interface {
	Stats(ctx context.Context) (deliberation.ExecutionStats, time.Time, error)
	Active(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error)
	ActiveOf(ctx context.Context, caller, cursor string, limit int) ([]deliberation.Deliberation, string, error)
}

// Reads are the read-only use cases (stats, the page of active jobs): all that the get-stats and
// get-active-jobs functions run, over the state store alone, so no Ray port or publisher is wired
// into them. Service answers the same two through a Reads of its own store and clock.
type Reads struct {
	Store ReadStore
	Clock Clock
}
