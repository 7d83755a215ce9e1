package fakes

import (
	"context"
	"slices"
	"strconv"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// outbox is the store's in-memory event queue per deliberation; the store's mutex guards it. A nil
// outbox records nothing.
type outbox struct {
	queues map[string][]app.PendingEvent
	seq    int
}

func newOutbox() *outbox { return &outbox{queues: map[string][]app.PendingEvent{}} }

func (o *outbox) record(before, after deliberation.Deliberation) {
	if o == nil {
		return
	}
	for _, e := range deliberation.Events(before, after) {
		o.seq++
		o.queues[after.ID] = append(o.queues[after.ID], app.PendingEvent{LifecycleEvent: e, Receipt: strconv.Itoa(o.seq)})
	}
}

func (s *Store) Pending(_ context.Context, id string, limit int) ([]app.PendingEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil || s.outbox == nil {
		return nil, err
	}
	q := s.outbox.queues[id]
	return slices.Clone(q[:min(max(limit, 1), len(q))]), nil
}

func (s *Store) Ack(_ context.Context, id string, e app.PendingEvent) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil || s.outbox == nil {
		return false, err
	}
	q := s.outbox.queues[id]
	if len(q) == 0 || q[0].Receipt != e.Receipt {
		return false, nil
	}
	if len(q) == 1 {
		delete(s.outbox.queues, id)
	} else {
		s.outbox.queues[id] = q[1:]
	}
	return true, nil
}

func (s *Store) PendingIDs(_ context.Context, after string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil || s.outbox == nil {
		return nil, err
	}
	var ids []string
	for id := range s.outbox.queues {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(max(limit, 1), len(ids))], nil
}
