package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Status answers where a deliberation stands. A non-terminal one is checked against Ray (at most
// once per CheckPeriod across replicas); while Ray is unreachable the last known state answers.
// An id the store does not hold answers a not_found report, not an error. A check is not
// read-only: it records what Ray says through the lifecycle steps (apply), which update Redis, publish
// events and, for a finished, failed, lost or expired attempt, stop, delete or resubmit it on Ray.
func (s *Service) Status(ctx context.Context, id string) (StatusReport, error) {
	if err := deliberation.CheckID(id); err != nil {
		return StatusReport{}, err
	}
	d, err := s.Store.Get(ctx, id)
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return NotFoundReport(id), nil
	}
	if err != nil {
		return StatusReport{}, err
	}
	if !callers.From(ctx).Owns(d.Caller) {
		return NotFoundReport(id), nil // as unknown, so another caller's ids cannot be probed
	}
	if d.Status.Terminal() {
		return ReportOf(d), nil
	}
	claimed, err := s.Store.ClaimCheck(ctx, id, s.Settings.CheckPeriod)
	if err != nil {
		return StatusReport{}, err
	}
	if claimed {
		d = s.advance(ctx, d)
	}
	return ReportOf(d), nil
}

// advance is the status logic for one non-terminal entry: past its deadline (and DeadlineGrace)
// it expires; otherwise Ray is asked about the current attempt and what it says is recorded
// (apply). It never fails: whatever it could not do now, a later check or reconcile pass does,
// and the entry it returns is the last known state.
func (s *Service) advance(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	if !s.Clock.Now().Before(d.Deadline.Add(s.Settings.DeadlineGrace)) {
		return s.expire(ctx, d)
	}
	st, err := s.Ray.Status(ctx, d.SubmissionID)
	return s.apply(ctx, d, st, err)
}

// apply picks the lifecycle step for what Ray said (st, or the error of asking) about d's current
// attempt.
func (s *Service) apply(ctx context.Context, d deliberation.Deliberation, st AttemptStatus, err error) deliberation.Deliberation {
	switch code := deliberation.ErrorCode(err); {
	case code == deliberation.CodeNotFound:
		return s.repairMissing(ctx, d)
	case err != nil && errors.Is(err, ErrClusterLost) && s.Clock.Now().Sub(d.AttemptAt) > s.Settings.PendingLimit:
		return s.strand(ctx, d, err)
	case err != nil:
		s.Log.WarnContext(ctx, "ray status unavailable; answering last known state",
			"deliberation_id", d.ID, "submission_id", d.SubmissionID, "error", err)
		return d
	}
	// A cluster Ray names anew rides on the step's own write (placement.go); when the step wrote
	// nothing for this attempt, place writes it alone.
	if st.Cluster != "" && st.Cluster != d.Cluster {
		ctx = withPlacement(ctx, placement{submission: d.SubmissionID, cluster: st.Cluster, now: s.Clock.Now()})
		after := s.step(ctx, d, st)
		if after.SubmissionID == d.SubmissionID {
			after = s.place(ctx, after, st.Cluster)
		}
		return after
	}
	return s.step(ctx, d, st)
}

// step is the lifecycle step for the state Ray reports of d's current attempt.
func (s *Service) step(ctx context.Context, d deliberation.Deliberation, st AttemptStatus) deliberation.Deliberation {
	switch st.State {
	case deliberation.JobPending:
		if s.Clock.Now().Sub(d.AttemptAt) > s.Settings.PendingLimit {
			return s.failAndStop(ctx, d, fmt.Sprintf("job pending on Ray for more than %s (resources unavailable)", s.Settings.PendingLimit))
		}
		after, _ := s.markOnRay(ctx, d)
		return after
	case deliberation.JobRunning:
		return s.markRunning(ctx, d)
	case deliberation.JobSucceeded:
		return s.complete(ctx, d, st, "")
	case deliberation.JobFailed:
		if st.Infrastructure && d.CanRetry() {
			return s.retry(ctx, d, st.Summary)
		}
		return s.complete(ctx, d, st, st.Summary)
	case deliberation.JobStopped:
		after := s.fail(ctx, d, "Ray job was stopped")
		s.cleanup(ctx, after)
		return after
	}
	return d
}

// repairMissing handles a current attempt Ray does not know: one that never reached Ray is
// submitted (under its deterministic id, so a racing submit is harmless); one Ray lost counts as
// an infrastructure failure. Young entries are left alone: another replica may be mid-step.
func (s *Service) repairMissing(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	switch {
	case s.Clock.Now().Sub(d.UpdatedAt) < s.Settings.RepairAge:
		return d
	case !d.OnRay:
		return s.resubmit(ctx, d)
	case d.CanRetry():
		return s.retry(ctx, d, "Ray lost the job")
	default:
		return s.fail(ctx, d, "Ray lost the job "+d.SubmissionID+" and no attempts are left")
	}
}

// strand ends an attempt whose cluster has been unreachable for longer than the pending limit
// while another cluster could take it: as one retry (the next attempt goes elsewhere), or, with
// no attempt left, as a failure. The lost cluster's job, should it come back, is superseded or
// belongs to a terminal entry, so the reconcile sweep stops and deletes it.
func (s *Service) strand(ctx context.Context, d deliberation.Deliberation, err error) deliberation.Deliberation {
	why := fmt.Sprintf("Ray cluster unreachable for more than %s", s.Settings.PendingLimit)
	s.Log.WarnContext(ctx, "attempt stranded on an unreachable Ray cluster", "deliberation_id", d.ID,
		"submission_id", d.SubmissionID, "cluster", d.Cluster, "error", err)
	if d.CanRetry() {
		return s.retry(ctx, d, why)
	}
	return s.fail(ctx, d, why+" and no attempts are left")
}
