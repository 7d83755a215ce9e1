package fakes

import (
	"context"
	"sync"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.EventPublisher = (*Events)(nil)

// Events records published lifecycle events; Err, when set, fails every publish.
type Events struct {
	mu        sync.Mutex
	published []deliberation.LifecycleEvent
	Err       error
}

func (e *Events) Publish(_ context.Context, ev deliberation.LifecycleEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Err != nil {
		return e.Err
	}
	e.published = append(e.published, ev)
	return nil
}

// Published returns the ids (`<submission id>.<event>`) of the events published so far, in order.
func (e *Events) Published() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, len(e.published))
	for i, ev := range e.published {
		ids[i] = ev.ID()
	}
	return ids
}
