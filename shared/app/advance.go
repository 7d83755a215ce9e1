package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// advance applies the status logic to one non-terminal entry: it asks Ray about the current job
// and records what Ray says. It never fails: whatever it could not do now, a later poll or
// reconcile pass does, and the entry it returns is the last known state.
func (s *Service) advance(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	if !s.Clock.Now().Before(d.Deadline.Add(s.Settings.DeadlineGrace)) {
		return s.expire(ctx, d)
	}
	st, err := s.Ray.Status(ctx, d.SubmissionID)
	return s.apply(ctx, d, st, err)
}

// apply records what Ray said (st, or the error of asking) about d's current job.
func (s *Service) apply(ctx context.Context, d deliberation.Deliberation, st AttemptStatus, err error) deliberation.Deliberation {
	log := s.Log.With("deliberation_id", d.ID, "submission_id", d.SubmissionID)
	now := s.Clock.Now()
	switch code := deliberation.ErrorCode(err); {
	case code == deliberation.CodeNotFound:
		return s.repairMissingJob(ctx, d)
	case err != nil:
		log.WarnContext(ctx, "ray status unavailable; answering last known state", "error", err)
		return d
	}
	switch st.State {
	case deliberation.JobPending:
		if now.Sub(d.AttemptAt) > s.Settings.PendingLimit {
			return s.failAndStop(ctx, d, fmt.Sprintf("job pending on Ray for more than %s (resources unavailable)", s.Settings.PendingLimit))
		}
		return s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.AcceptedByRay(now) })
	case deliberation.JobRunning:
		return s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.Running(now) })
	case deliberation.JobSucceeded:
		return s.finishFromLogs(ctx, d, st, "")
	case deliberation.JobFailed:
		if st.Infrastructure && d.CanRetry() {
			return s.retry(ctx, d, st.Summary)
		}
		return s.finishFromLogs(ctx, d, st, st.Summary)
	case deliberation.JobStopped:
		after := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return cur.Fail("Ray job was stopped", now)
		})
		s.cleanup(ctx, after)
		return after
	}
	return d
}

// record applies a change to the current attempt only: a change computed from a job that is no
// longer current (another replica moved to the next attempt) is dropped.
func (s *Service) record(ctx context.Context, d deliberation.Deliberation, change Change) deliberation.Deliberation {
	after, _, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		if cur.SubmissionID != d.SubmissionID {
			return cur, false
		}
		return change(cur)
	})
	if err != nil {
		s.Log.WarnContext(ctx, "state not recorded", "deliberation_id", d.ID, "error", err)
		return d
	}
	return after
}

// finishFromLogs records a finished job from the result line it printed (a job prints it also when
// it fails, so agents' errors are kept); without one, the job's failure summary is kept instead.
// A result that does not answer the stored request (other agents, other counts) is a failure of
// the job, never recorded as its outcome.
func (s *Service) finishFromLogs(ctx context.Context, d deliberation.Deliberation, st AttemptStatus, failure string) deliberation.Deliberation {
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
			// An unchecked result is not recorded: a later check, or the deadline, settles it.
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
	after := s.record(ctx, d, change)
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

// retry moves to the next deterministic submission id after an infrastructure failure and submits.
func (s *Service) retry(ctx context.Context, d deliberation.Deliberation, why string) deliberation.Deliberation {
	now := s.Clock.Now()
	after := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.NextAttempt(now) })
	if after.SubmissionID == d.SubmissionID {
		return after
	}
	s.Log.InfoContext(ctx, "resubmitting after infrastructure failure", "deliberation_id", d.ID,
		"attempt", after.Attempts, "reason", why)
	_ = s.Ray.Delete(ctx, d.SubmissionID)
	return s.submitStored(ctx, after)
}

// submitStored submits the current attempt with the stored request.
func (s *Service) submitStored(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	req, err := s.Store.Request(ctx, d.ID)
	if err != nil {
		s.Log.WarnContext(ctx, "stored request unreadable", "deliberation_id", d.ID, "error", err)
		return d
	}
	after, err := s.submit(ctx, d, req)
	if err != nil {
		s.Log.WarnContext(ctx, "ray submission deferred", "deliberation_id", d.ID, "error", err)
	}
	return after
}

// repairMissingJob handles a current job Ray does not know: one that never reached Ray is
// submitted (under its deterministic id, so a racing submit is harmless); one Ray lost counts as an
// infrastructure failure. Young entries are left alone: another replica may be mid-step.
func (s *Service) repairMissingJob(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	if s.Clock.Now().Sub(d.UpdatedAt) < s.Settings.RepairAge {
		return d
	}
	if !d.OnRay {
		return s.submitStored(ctx, d)
	}
	if d.CanRetry() {
		return s.retry(ctx, d, "Ray lost the job")
	}
	return s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return cur.Fail("Ray lost the job "+cur.SubmissionID+" and no attempts are left", s.Clock.Now())
	})
}

// expire fails a deliberation past its deadline in the store first, then stops its Ray job, so
// the job's late success can never count.
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

// failAndStop fails a deliberation for a reason of the service's own and stops its job.
func (s *Service) failAndStop(ctx context.Context, d deliberation.Deliberation, message string) deliberation.Deliberation {
	now := s.Clock.Now()
	after := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		stopping, _ := cur.MarkStopping(now)
		return stopping.Fail(message, now)
	})
	s.stop(ctx, after)
	return after
}

func (s *Service) stop(ctx context.Context, d deliberation.Deliberation) {
	if !d.Status.Terminal() {
		return
	}
	if err := s.Ray.Stop(ctx, d.SubmissionID); err != nil && deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		s.Log.WarnContext(ctx, "ray job not stopped", "deliberation_id", d.ID, "error", err)
	}
	s.cleanup(ctx, d)
}

// cleanup deletes a terminal entry's Ray job: its outcome is stored and Ray keeps job records
// forever otherwise. A job still stopping refuses; the reconcile pass deletes it later.
func (s *Service) cleanup(ctx context.Context, d deliberation.Deliberation) {
	if !d.Status.Terminal() {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Ray.Delete(dctx, d.SubmissionID); err != nil && deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		s.Log.DebugContext(ctx, "ray job not deleted yet", "deliberation_id", d.ID, "error", err)
	}
}
