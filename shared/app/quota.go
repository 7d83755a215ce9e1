package app

import (
	"context"
	"time"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// throttle refuses an execute (too_many, with when to retry) when its caller's submit rate is
// spent. Only named callers have one (callers.Caller.Limited); a refused execute that replays a
// deliberation already accepted still gets its replay (Execute). A rate that cannot be read
// refuses: the accept step would fail on the same Redis right after.
func (s *Service) throttle(ctx context.Context) error {
	c := callers.From(ctx)
	if s.Limiter == nil || !c.Limited || c.Quota.SubmitRate <= 0 {
		return nil
	}
	wait, err := s.Limiter.TakeSubmit(ctx, c.Name, c.Quota.SubmitRate, max(c.Quota.SubmitBurst, 1))
	if err != nil || wait <= 0 {
		return err
	}
	e := deliberation.Errorf(deliberation.CodeTooMany, "caller %s submits faster than its rate of %g per second (burst %d); retry in %s",
		c.Name, c.Quota.SubmitRate, c.Quota.SubmitBurst, wait.Round(time.Millisecond))
	e.RetryAfter = wait
	return e
}
