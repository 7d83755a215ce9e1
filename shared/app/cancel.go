package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// CancelOutcome says what a cancel did.
type CancelOutcome string

const (
	// CancelRecorded: this call cancelled the deliberation; its Ray side may still be stopping.
	CancelRecorded CancelOutcome = "recorded"
	// CancelAlready: the deliberation was cancelled before (a cancel is idempotent).
	CancelAlready CancelOutcome = "already_cancelled"
	// CancelConflict: the deliberation had already completed or failed; nothing changed.
	CancelConflict CancelOutcome = "conflict"
	// CancelNotFound: the store holds no such deliberation.
	CancelNotFound CancelOutcome = "not_found"
)

// CancelResult is a cancel's outcome and the deliberation's status as it stands after it.
type CancelResult struct {
	Outcome CancelOutcome
	Report  StatusReport
}

// Cancel ends a submitted or running deliberation on a caller's request: one compare-and-set
// transition to cancelled, which frees the active slot and records the cancelled event in the
// same step, then the Ray side is stopped (jobs: the job is stopped; serve: the attempt is marked
// STOPPED, so a queued one never runs and a running one is cancelled by its runner). Whatever the
// job or runner reports afterwards changes nothing, the entry being terminal. What a crash leaves
// unstopped, the reconcile pass stops (finishStops).
func (s *Service) Cancel(ctx context.Context, id, reason string) (CancelResult, error) {
	if err := deliberation.CheckID(id); err != nil {
		return CancelResult{}, err
	}
	if err := deliberation.CheckCancelReason(reason); err != nil {
		return CancelResult{}, err
	}
	d, err := s.Store.Get(ctx, id)
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return CancelResult{Outcome: CancelNotFound, Report: NotFoundReport(id)}, nil
	}
	if err != nil {
		return CancelResult{}, err
	}
	now := s.Clock.Now()
	after, won, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return cur.Cancel(reason, now)
	})
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return CancelResult{Outcome: CancelNotFound, Report: NotFoundReport(id)}, nil
	}
	if err != nil {
		return CancelResult{}, err
	}
	switch {
	case won:
		s.Log.InfoContext(ctx, "deliberation cancelled", "deliberation_id", id, "submission_id", after.SubmissionID)
		s.stopCancelled(ctx, after, true)
		return CancelResult{Outcome: CancelRecorded, Report: ReportOf(after)}, nil
	case after.Status == deliberation.StatusCancelled:
		return CancelResult{Outcome: CancelAlready, Report: ReportOf(after)}, nil
	default:
		return CancelResult{Outcome: CancelConflict, Report: ReportOf(after)}, nil
	}
}

// stopCancelled stops a cancelled deliberation's current attempt on Ray and, once Ray holds it
// stopped (or never had it), takes the id out of the store's stop index. A job or attempt Ray does
// not know is taken as stopped only once the cancel is RepairAge old: a younger one may still be
// mid-submission in another replica (which stops it itself when it sees the entry cancelled).
func (s *Service) stopCancelled(ctx context.Context, d deliberation.Deliberation, fresh bool) {
	sctx, cancel := context.WithTimeout(ctx, s.Settings.SubmitTimeout)
	defer cancel()
	err := s.Ray.Stop(sctx, d.SubmissionID)
	switch code := deliberation.ErrorCode(err); {
	case err == nil:
	case code == deliberation.CodeNotFound && !fresh && s.Clock.Now().Sub(d.CancelledAt) >= s.Settings.RepairAge:
	default:
		if code != deliberation.CodeNotFound {
			s.Log.WarnContext(ctx, "ray side of a cancel not stopped yet; the reconcile pass retries",
				"deliberation_id", d.ID, "error", err)
		}
		return
	}
	if err := s.Store.Stopped(ctx, d.ID); err != nil {
		s.Log.WarnContext(ctx, "stop of a cancel not recorded", "deliberation_id", d.ID, "error", err)
	}
	s.cleanup(ctx, d)
}

// finishStops stops the Ray side of every cancelled deliberation a crash (or an unreachable Ray)
// left running, within ctx.
func (s *Service) finishStops(ctx context.Context) {
	after := ""
	for ctx.Err() == nil {
		ids, err := s.Store.Stopping(ctx, after, reconcilePage)
		if err != nil || len(ids) == 0 {
			return
		}
		for _, id := range ids {
			d, err := s.Store.Get(ctx, id)
			switch {
			case deliberation.ErrorCode(err) == deliberation.CodeNotFound:
				_ = s.Store.Stopped(ctx, id)
			case err == nil && d.Status == deliberation.StatusCancelled:
				s.stopCancelled(ctx, d, false)
			case err == nil:
				_ = s.Store.Stopped(ctx, id)
			}
		}
		after = ids[len(ids)-1]
	}
}

// stopIfCancelled stops what a submission handed to Ray after the deliberation was cancelled (a
// cancel that raced with execute or a resubmission): d is the entry as stored after the submit.
func (s *Service) stopIfCancelled(ctx context.Context, d deliberation.Deliberation) {
	if d.Status == deliberation.StatusCancelled {
		s.stopCancelled(ctx, d, false)
	}
}
