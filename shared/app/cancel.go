package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/callers"
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
	if !callers.From(ctx).Owns(d.Caller) {
		return CancelResult{Outcome: CancelNotFound, Report: NotFoundReport(id)}, nil
	}
	after, won, err := s.cancel(ctx, d, reason)
	switch {
	case deliberation.ErrorCode(err) == deliberation.CodeNotFound:
		return CancelResult{Outcome: CancelNotFound, Report: NotFoundReport(id)}, nil
	case err != nil:
		return CancelResult{}, err
	case won:
		return CancelResult{Outcome: CancelRecorded, Report: ReportOf(after)}, nil
	case after.Status == deliberation.StatusCancelled:
		return CancelResult{Outcome: CancelAlready, Report: ReportOf(after)}, nil
	default:
		return CancelResult{Outcome: CancelConflict, Report: ReportOf(after)}, nil
	}
}
