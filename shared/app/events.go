package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// transition applies change through the store and publishes what the winning change caused.
func (s *Service) transition(ctx context.Context, id string, change Change) (deliberation.Deliberation, bool, error) {
	var before deliberation.Deliberation
	after, won, err := s.Store.Update(ctx, id, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		before = cur
		return change(cur)
	})
	if err == nil && won {
		s.publish(ctx, before, after)
	}
	return after, won, err
}

// publish sends the lifecycle events of a won transition. A failure is logged, never returned:
// events must not fail or delay the work they describe.
func (s *Service) publish(ctx context.Context, before, after deliberation.Deliberation) {
	if s.Events == nil {
		return
	}
	for _, e := range deliberation.Events(before, after) {
		if err := s.Events.Publish(ctx, e); err != nil {
			s.Log.WarnContext(ctx, "lifecycle event not published", "deliberation_id", after.ID, "event", e.Name, "error", err)
		}
	}
}
