package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// The steps that end a deliberation (see lifecycle.go). Each ends it in the store first and only
// then touches Ray, so nothing Ray reports later can change the outcome.

// complete records a finished attempt from the result it printed (an attempt prints it also when
// it fails, so agents' errors are kept); without one, failure, Ray's summary of the attempt's
// failure, is kept instead. A result that does not answer the stored request (other agents, other
// counts) is a failure of the attempt, never recorded as its outcome. The attempt's record on Ray
// is then deleted. While Ray cannot be read, or the stored request cannot, nothing is recorded: a
// later check, or the deadline, settles it.
func (s *Service) complete(ctx context.Context, d deliberation.Deliberation, st AttemptStatus, failure string) deliberation.Deliberation {
	now := s.Clock.Now()
	res, err := s.Ray.Result(ctx, d.SubmissionID)
	if deliberation.ErrorCode(err) == deliberation.CodeUnavailable {
		return d
	}
	fail := func(msg string) Change {
		return func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.Fail(msg, now) }
	}
	var change Change
	switch {
	case err == nil:
		req, err := s.Store.Request(ctx, d.ID)
		if err != nil {
			if cur, finished := s.finishedMeanwhile(ctx, d, err); finished {
				return cur
			}
			s.Log.WarnContext(ctx, "stored request unreadable; result not checked", "deliberation_id", d.ID, "error", err)
			return d
		}
		if bad := res.CheckAgainst(req); bad != nil {
			change = fail(prefixed(failure, deliberation.ErrorMessage(bad)))
			break
		}
		execMS := st.EndTime.Sub(st.StartTime).Milliseconds()
		change = func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
			after, changed := cur.Complete(res, execMS, now)
			if changed && after.Status == deliberation.StatusFailed {
				after.ErrorMessage = deliberation.Printable(prefixed(failure, after.ErrorMessage))
			}
			return after, changed
		}
	case failure != "":
		change = fail(failure)
	default:
		change = fail("job succeeded without a readable result: " + deliberation.ErrorMessage(err))
	}
	after, _ := s.record(ctx, d, change)
	s.cleanup(ctx, after)
	return after
}

// prefixed puts Ray's failure summary, when there is one, before what the result says.
func prefixed(failure, msg string) string {
	if failure == "" {
		return msg
	}
	return failure + ": " + msg
}

// fail records that d's current attempt failed with message; it leaves Ray alone.
func (s *Service) fail(ctx context.Context, d deliberation.Deliberation, message string) deliberation.Deliberation {
	now := s.Clock.Now()
	after, _ := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.Fail(message, now) })
	return after
}

// failAndStop fails a deliberation for a reason of the service's own, marked as stopped by the
// service so it is never resubmitted, and stops its attempt on Ray.
func (s *Service) failAndStop(ctx context.Context, d deliberation.Deliberation, message string) deliberation.Deliberation {
	now := s.Clock.Now()
	after, _ := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		stopping, _ := cur.MarkStopping(now)
		return stopping.Fail(message, now)
	})
	s.stop(ctx, after)
	return after
}

// expire fails a deliberation past its deadline, whatever its current attempt, then stops that
// attempt on Ray, so the attempt's late success can never count.
func (s *Service) expire(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	now := s.Clock.Now()
	after, _, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		stopping, _ := cur.MarkStopping(now)
		return stopping.TimedOut(now)
	})
	if err != nil {
		s.Log.WarnContext(ctx, "deadline not recorded", "deliberation_id", d.ID, "error", err)
		return d
	}
	s.stop(ctx, after)
	return after
}

// cancel ends a submitted or running deliberation on a caller's request, whatever its current
// attempt: the compare-and-set frees the active slot and adds the id to the store's stop index in
// the same step; the winner then stops the attempt on Ray (stopCancelled). It reports whether this
// call won; a terminal entry is returned unchanged.
func (s *Service) cancel(ctx context.Context, d deliberation.Deliberation, reason string) (deliberation.Deliberation, bool, error) {
	now := s.Clock.Now()
	after, won, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return cur.Cancel(reason, now)
	})
	if err != nil || !won {
		return after, won, err
	}
	s.Log.InfoContext(ctx, "deliberation cancelled", "deliberation_id", d.ID, "submission_id", after.SubmissionID)
	s.stopCancelled(ctx, after, true)
	return after, true, nil
}

// finishedMeanwhile tells, when d's request was not found, whether another caller finished d
// since it was read (the terminal transition drops the request), and returns the entry as it is
// now: the outcome to answer, rather than the stale d.
func (s *Service) finishedMeanwhile(ctx context.Context, d deliberation.Deliberation, err error) (deliberation.Deliberation, bool) {
	if deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		return d, false
	}
	cur, err := s.Store.Get(ctx, d.ID)
	if err != nil || !cur.Status.Terminal() {
		return d, false
	}
	return cur, true
}
