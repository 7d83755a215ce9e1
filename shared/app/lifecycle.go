package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// The lifecycle of a deliberation. Every change of an entry is one of the steps below: a method
// that makes the change through the store (one atomic Create, Update or UpdateFrom, which records
// the step's lifecycle events in the outbox in the same step), hands those events to the publisher,
// and does the Ray side effect the step needs. The use cases (execute.go, status.go, cancel.go,
// reconcile.go, wake.go) are short sequences of these steps. The statuses, the transitions with
// their causes and their events are tabled in docs/state.md ("Statuses", "Transitions").
//
//	step          before → after                    event             Ray side
//	accept        (none) → submitted                submitted
//	submit        submitted → submitted, on Ray                       Submit, then afterSubmit
//	afterSubmit   submitted → submitted, on Ray                       stopCancelled if cancelled meanwhile
//	markOnRay     submitted → submitted, on Ray
//	markRunning   submitted → running               started
//	retry         active → submitted, next attempt                    Delete the old, submit the new
//	complete      active → completed or failed      completed/failed  Delete
//	fail          active → failed                   failed
//	failAndStop   active → failed                   failed            Stop, Delete
//	expire        active → failed (timed out)       failed            Stop, Delete
//	cancel        active → cancelled                cancelled         stopCancelled
//	stopCancelled cancelled, unchanged                                Stop, unindex, Delete
//	stop          terminal, unchanged                                 Stop, Delete
//	cleanup       terminal, unchanged                                 Delete
//
// active is submitted or running; on Ray is the entry's on_ray flag; unindex takes the id out of
// the store's stop index.
//
// completed, failed and cancelled are terminal: the domain's transitions leave a terminal entry
// unchanged, so a step that loses a race with another replica writes, counts and publishes
// nothing. A step that records what Ray said of an attempt (record) applies only while that
// attempt is still the entry's current one; expire and cancel apply whatever the attempt.

// accept stores a new deliberation with its request and counts it, unless an entry with id exists:
// then it returns that entry and false.
func (s *Service) accept(ctx context.Context, id string, req deliberation.Request) (deliberation.Deliberation, bool, error) {
	caller := callers.From(ctx)
	d := deliberation.New(id, req, s.Clock.Now())
	d.Caller = caller.Name
	callerMax := 0
	if caller.Limited {
		callerMax = caller.Quota.MaxActive
	}
	d, created, err := s.Store.CreateAs(ctx, d, req, s.Settings.MaxActive, callerMax)
	if err != nil || !created {
		return d, created, err
	}
	s.Log.InfoContext(ctx, "deliberation accepted", "deliberation_id", d.ID, "task_id", d.TaskID, "agents", d.TotalAgents)
	s.publish(ctx, deliberation.Deliberation{}, d)
	return d, true, nil
}

// submit hands d's current attempt to Ray and records that Ray holds it.
func (s *Service) submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) (deliberation.Deliberation, error) {
	if err := s.handToRay(ctx, d, req); err != nil {
		return d, err
	}
	return s.afterSubmit(ctx, d)
}

// afterSubmit follows a submission Ray took: it records that Ray holds the attempt and stops it
// if the deliberation was cancelled meanwhile (that cancel found nothing to stop yet).
func (s *Service) afterSubmit(ctx context.Context, d deliberation.Deliberation) (deliberation.Deliberation, error) {
	after, err := s.markOnRay(ctx, d)
	if err == nil {
		s.stopIfCancelled(ctx, after)
	}
	return after, err
}

// resubmit submits d's current attempt with the stored request.
func (s *Service) resubmit(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	req, err := s.Store.Request(ctx, d.ID)
	if err != nil {
		if cur, finished := s.finishedMeanwhile(ctx, d, err); finished {
			return cur
		}
		s.Log.WarnContext(ctx, "stored request unreadable", "deliberation_id", d.ID, "error", err)
		return d
	}
	after, err := s.submit(ctx, d, req)
	if err != nil {
		s.Log.WarnContext(ctx, "ray submission deferred", "deliberation_id", d.ID, "error", err)
	}
	return after
}

// markOnRay records that Ray holds d's current attempt: it acknowledged the submission or
// reports the attempt PENDING.
func (s *Service) markOnRay(ctx context.Context, d deliberation.Deliberation) (deliberation.Deliberation, error) {
	now := s.Clock.Now()
	return s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.AcceptedByRay(now) })
}

// markRunning records that Ray runs d's current attempt; the first sighting sets started_at.
func (s *Service) markRunning(ctx context.Context, d deliberation.Deliberation) deliberation.Deliberation {
	now := s.Clock.Now()
	after, _ := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.Running(now) })
	return after
}

// retry moves to the next deterministic submission id after an infrastructure failure (why),
// deletes the failed attempt's record on Ray and submits the next one. While the entry still holds
// the failed attempt (it ended meanwhile, or the move was not recorded) Ray is left alone: a next
// attempt exists only once its compare-and-set won. A replica that lost the move to another
// submits the same next attempt again, which Ray takes as the one it holds (deterministic ids).
func (s *Service) retry(ctx context.Context, d deliberation.Deliberation, why string) deliberation.Deliberation {
	now := s.Clock.Now()
	after, _ := s.record(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.NextAttempt(now) })
	if after.SubmissionID == d.SubmissionID {
		return after
	}
	s.Log.InfoContext(ctx, "resubmitting after infrastructure failure", "deliberation_id", d.ID,
		"attempt", after.Attempts, "reason", why)
	_ = s.Ray.Delete(ctx, d.SubmissionID)
	return s.resubmit(ctx, after)
}

// record applies a change to d's current attempt only: a change computed from an attempt that is
// no longer current (another replica moved to the next one) is dropped. It never fails the caller:
// what it could not record, a later check does, and it returns d, the last known state, with the
// error.
func (s *Service) record(ctx context.Context, d deliberation.Deliberation, change Change) (deliberation.Deliberation, error) {
	after, _, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		if cur.SubmissionID != d.SubmissionID {
			return cur, false
		}
		return change(cur)
	})
	if err != nil {
		s.Log.WarnContext(ctx, "state not recorded", "deliberation_id", d.ID, "error", err)
		return d, err
	}
	return after, nil
}

// transition applies change through the store, starting from known, the entry as last read or
// written (the store skips reading it again while it is unchanged), and publishes what the winning
// change caused.
func (s *Service) transition(ctx context.Context, known deliberation.Deliberation, change Change) (deliberation.Deliberation, bool, error) {
	var before deliberation.Deliberation
	var placedOn string
	after, won, err := s.Store.UpdateFrom(ctx, known, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		before = cur
		placed, cluster, moved := placeIn(ctx, cur)
		next, changed := change(placed)
		if !changed {
			next = placed
		}
		placedOn = ""
		if moved {
			placedOn = cluster
		}
		return next, changed || moved
	})
	if err == nil && won {
		s.publish(ctx, before, after)
		if placedOn != "" && s.Placed != nil {
			s.Placed(placedOn)
		}
		if s.Finished != nil && !before.Status.Terminal() && after.Status.Terminal() {
			s.Finished(after.Cluster, after.Status)
		}
	}
	return after, won, err
}

// publish hands the events of a won transition, which the store recorded in its outbox in the
// same step, to the publisher. It never fails nor waits: events must not fail or delay the work
// they describe.
func (s *Service) publish(ctx context.Context, before, after deliberation.Deliberation) {
	if s.Events == nil || len(deliberation.Events(before, after)) == 0 {
		return
	}
	s.Events.Deliver(ctx, after.ID)
}
