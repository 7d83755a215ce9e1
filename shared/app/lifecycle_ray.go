package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// The Ray side of the lifecycle steps (see lifecycle.go): handing an attempt to Ray, stopping it,
// and deleting its record once the outcome is stored. None changes the entry; a failed call is
// logged and left to a later check or the reconcile pass.

// handToRay hands d's current attempt to Ray within SubmitTimeout; an attempt Ray already holds
// counts as handed.
func (s *Service) handToRay(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error {
	sctx, cancel := context.WithTimeout(ctx, s.Settings.SubmitTimeout)
	defer cancel()
	return s.Ray.Submit(sctx, d, req)
}

// stop stops a terminal entry's current attempt on Ray, then deletes its record (cleanup).
func (s *Service) stop(ctx context.Context, d deliberation.Deliberation) {
	if !d.Status.Terminal() {
		return
	}
	if err := s.Ray.Stop(ctx, d.SubmissionID); err != nil && deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		s.Log.WarnContext(ctx, "ray job not stopped", "deliberation_id", d.ID, "error", err)
	}
	s.cleanup(ctx, d)
}

// stopCancelled stops a cancelled deliberation's current attempt on Ray and, once Ray holds it
// stopped (or never had it), takes the id out of the store's stop index and deletes the attempt's
// record. fresh is true for the cancel's own call. An attempt Ray does not know is taken as stopped
// only once the cancel is RepairAge old: a younger one may still be mid-submission in another
// replica (which stops it itself when it sees the entry cancelled: afterSubmit).
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

// stopIfCancelled stops what a submission handed to Ray after the deliberation was cancelled (a
// cancel that raced with execute or a resubmission): d is the entry as stored after the submit.
func (s *Service) stopIfCancelled(ctx context.Context, d deliberation.Deliberation) {
	if d.Status == deliberation.StatusCancelled {
		s.stopCancelled(ctx, d, false)
	}
}

// cleanup deletes a terminal entry's attempt record on Ray within DeleteTimeout: its outcome is
// stored and Ray keeps job records forever otherwise. An attempt still stopping refuses; the
// reconcile pass deletes it later.
func (s *Service) cleanup(ctx context.Context, d deliberation.Deliberation) {
	if !d.Status.Terminal() {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, s.Settings.DeleteTimeout)
	defer cancel()
	if err := s.Ray.Delete(dctx, d.SubmissionID); err != nil && deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		s.Log.DebugContext(ctx, "ray job not deleted yet", "deliberation_id", d.ID, "error", err)
	}
}
