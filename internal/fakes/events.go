package fakes

import (
	"context"
	"slices"
	"sync"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.EventPublisher = (*Events)(nil)

// Events delivers what an outbox holds into an in-memory log. Unlike the real publisher it drains
// synchronously and one drain at a time, so tests see every event as soon as the call that caused
// it returns, and each exactly once. Err, when set, fails every publish: the events stay pending.
type Events struct {
	outbox app.Outbox

	mu        sync.Mutex
	published []deliberation.LifecycleEvent
	Err       error
}

// NewEvents returns a publisher of what outbox records.
func NewEvents(outbox app.Outbox) *Events { return &Events{outbox: outbox} }

func (e *Events) Deliver(ctx context.Context, id string) { _ = e.drain(ctx, id) }

func (e *Events) DeliverPending(ctx context.Context) error {
	after := ""
	for {
		ids, err := e.outbox.PendingIDs(ctx, after, 100)
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, id := range ids {
			if err := e.drain(ctx, id); err != nil {
				return err
			}
		}
		after = ids[len(ids)-1]
	}
}

func (e *Events) drain(ctx context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		pending, err := e.outbox.Pending(ctx, id, 10)
		if err != nil || len(pending) == 0 {
			return err
		}
		for _, p := range pending {
			if e.Err != nil {
				return e.Err
			}
			e.published = append(e.published, p.LifecycleEvent)
			if _, err := e.outbox.Ack(ctx, id, p); err != nil {
				return err
			}
		}
	}
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

// Events returns the events published so far, with the entry each carried, in order.
func (e *Events) Events() []deliberation.LifecycleEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.published)
}
