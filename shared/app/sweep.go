package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// sweep tidies Ray's side of what the registry knows: it deletes terminal jobs whose outcome is
// stored (Ray keeps job records forever otherwise, and refuses to delete a job that just ended,
// so this is where most deletes happen), and stops live jobs nobody tracks any more: a superseded
// attempt, a job whose deliberation already ended in the store, or one with no entry at all. The
// job of an active entry's current attempt belongs to the status logic and is left alone.
func (s *Service) sweep(ctx context.Context) {
	jobs, err := s.Ray.List(ctx)
	if err != nil {
		s.Log.WarnContext(ctx, "ray jobs not listed; cleanup waits for the next pass", "error", err)
		return
	}
	now := s.Clock.Now()
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		d, err := s.Store.Get(ctx, j.DeliberationID)
		missing := deliberation.ErrorCode(err) == deliberation.CodeNotFound
		if err != nil && !missing {
			continue
		}
		if !missing && !d.Status.Terminal() && d.SubmissionID == j.SubmissionID {
			continue
		}
		log := s.Log.With("deliberation_id", j.DeliberationID, "submission_id", j.SubmissionID)
		if j.Status.State.Terminal() {
			if err := s.Ray.Delete(ctx, j.SubmissionID); err == nil {
				log.InfoContext(ctx, "finished ray job deleted")
			}
			continue
		}
		// An orphan this young may belong to a replica that is mid-step.
		if missing && now.Sub(j.Status.StartTime) < s.Settings.RepairAge {
			continue
		}
		if err := s.Ray.Stop(ctx, j.SubmissionID); err == nil {
			log.InfoContext(ctx, "untracked ray job stopped", "entry_found", !missing)
		}
	}
}
