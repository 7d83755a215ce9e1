package app

import (
	"context"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// A placement is the cluster the Ray side reports for an attempt. apply hands it to the step it
// runs through the context, so the step's own write records it (the first RUNNING sighting, a
// completion): a deliberation's cluster costs no write of its own, and its started event names it.
type placement struct {
	submission, cluster string
	now                 time.Time
}

type placementKey struct{}

func withPlacement(ctx context.Context, p placement) context.Context {
	return context.WithValue(ctx, placementKey{}, p)
}

// placeIn records ctx's placement, if any, in cur when cur still holds its attempt.
func placeIn(ctx context.Context, cur deliberation.Deliberation) (deliberation.Deliberation, string, bool) {
	p, ok := ctx.Value(placementKey{}).(placement)
	if !ok || cur.SubmissionID != p.submission {
		return cur, "", false
	}
	after, moved := cur.PlacedOn(p.cluster, p.now)
	return after, p.cluster, moved
}

// place records the cluster Ray reports for d's current attempt, when it is new, for the paths
// of apply whose step wrote nothing: the status answer, the active list and the events that
// follow name it.
func (s *Service) place(ctx context.Context, d deliberation.Deliberation, cluster string) deliberation.Deliberation {
	if cluster == "" || cluster == d.Cluster || d.Status.Terminal() {
		return d
	}
	ctx = withPlacement(ctx, placement{submission: d.SubmissionID, cluster: cluster, now: s.Clock.Now()})
	after, _ := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur, false })
	return after
}
