package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// transition applies change through the store, starting from known, the entry as last read or
// written (the store skips reading it again while it is unchanged), and publishes what the winning
// change caused.
func (s *Service) transition(ctx context.Context, known deliberation.Deliberation, change Change) (deliberation.Deliberation, bool, error) {
	var before deliberation.Deliberation
	after, won, err := s.Store.UpdateFrom(ctx, known, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		before = cur
		return change(cur)
	})
	if err == nil && won {
		s.publish(ctx, before, after)
	}
	return after, won, err
}

// publish hands the events of a won transition, which the store recorded in its outbox in the
// same step, to the publisher. It never fails nor waits: events must not fail or delay the work
// they describe.
func (s *Service) publish(ctx context.Context, before, after deliberation.Deliberation) {
	if s.Events == nil || len(deliberation.Events(before, after)) == 0 {
		return
	}
	s.Events.Deliver(ctx, after.ID)
}
