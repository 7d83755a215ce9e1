package app

import (
	"context"
	"sync"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// lagReading is the last lag read from the Backlog and when, shared by concurrent executes.
type lagReading struct {
	mu    sync.Mutex
	value int64
	at    time.Time
	read  bool
}

// admit refuses a new deliberation (too_many) while the runners' queue holds MaxQueueLag attempts
// or more that no runner has taken: one accepted now would wait behind all of them, maybe past its
// deadline, while a caller told to come back later can. It changes nothing but this instance's lag
// reading. A lag that cannot be read admits: the bound protects the runners, and an unreachable
// Redis fails the accept step right after with its own answer.
func (s *Service) admit(ctx context.Context) error {
	if s.Backlog == nil || s.Settings.MaxQueueLag <= 0 {
		return nil
	}
	lag, err := s.queueLag(ctx)
	if err != nil {
		s.Log.DebugContext(ctx, "runner queue lag unread; admitting", "error", err)
		return nil
	}
	if lag >= s.Settings.MaxQueueLag {
		return deliberation.Errorf(deliberation.CodeTooMany,
			"the runners' queue is full: %d deliberations wait to start (bound %d)", lag, s.Settings.MaxQueueLag)
	}
	return nil
}

// queueLag answers from the last reading while it is younger than LagFresh, else reads the
// Backlog. Concurrent executes may read it at once when the reading is stale: at most one read per
// execute, and mostly none.
func (s *Service) queueLag(ctx context.Context) (int64, error) {
	now := s.Clock.Now()
	s.lag.mu.Lock()
	if s.lag.read && now.Sub(s.lag.at) < s.Settings.LagFresh {
		v := s.lag.value
		s.lag.mu.Unlock()
		return v, nil
	}
	s.lag.mu.Unlock()
	v, err := s.Backlog.Lag(ctx)
	if err != nil {
		return 0, err
	}
	s.lag.mu.Lock()
	if !s.lag.read || !now.Before(s.lag.at) {
		s.lag.value, s.lag.at, s.lag.read = v, now, true
	}
	s.lag.mu.Unlock()
	return v, nil
}
