package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Messages of the execute response.
const (
	MessageSubmitted = "Deliberation submitted to Ray cluster"
	MessageQueued    = "Deliberation accepted; Ray is unavailable, submission will be retried"
)

// ExecuteCommand is one execute request; IdempotencyKey is the HTTP header or, for CloudEvents,
// the event's source and id.
type ExecuteCommand struct {
	Input          deliberation.RequestInput
	IdempotencyKey string
}

// Submission answers execute. Replayed is true when the key had been seen (HTTP 200, not 202).
type Submission struct {
	DeliberationID string              `json:"deliberation_id"`
	TaskID         string              `json:"task_id"`
	Status         deliberation.Status `json:"status"`
	Message        string              `json:"message"`
	Replayed       bool                `json:"-"`
}

// Execute validates the request and accepts it durably: once it returns without error the entry is
// in the store and will end terminal by its deadline, whether or not Ray took the job now.
func (s *Service) Execute(ctx context.Context, cmd ExecuteCommand) (Submission, error) {
	req, err := deliberation.NewRequest(cmd.Input, s.Settings.Limits)
	if err != nil {
		return Submission{}, err
	}
	id := s.IDs.NewID()
	if cmd.IdempotencyKey != "" {
		if err := deliberation.CheckIdempotencyKey(cmd.IdempotencyKey); err != nil {
			return Submission{}, err
		}
		id = deliberation.IDFromKey(cmd.IdempotencyKey)
	}
	d, created, err := s.Store.Create(ctx, deliberation.New(id, req, s.Clock.Now()), req, s.Settings.MaxActive)
	if err != nil {
		return Submission{}, err
	}
	log := s.Log.With("deliberation_id", d.ID)
	if !created {
		log.InfoContext(ctx, "execute replayed")
		return submission(d, true, d.OnRay), nil
	}
	log.InfoContext(ctx, "deliberation accepted", "task_id", d.TaskID, "agents", d.TotalAgents)
	s.publish(ctx, deliberation.Deliberation{}, d)
	if err := s.submitToRay(ctx, d, req); err != nil {
		log.WarnContext(ctx, "ray submission deferred", "error", err)
		return submission(d, false, false), nil
	}
	// Ray holds the job: the answer need not wait for the bookkeeping. Should it be lost, the next
	// status check or reconcile pass records Ray's acceptance as it finds the job PENDING or RUNNING.
	// A cancel that came in meanwhile has found nothing to stop yet: the follow-up stops it.
	s.later(ctx, func(ctx context.Context) {
		if after, err := s.recordAccepted(ctx, d); err == nil {
			s.stopIfCancelled(ctx, after)
		}
	})
	return submission(d, false, true), nil
}

// submit hands the current attempt to Ray and records that Ray holds it.
func (s *Service) submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) (deliberation.Deliberation, error) {
	if err := s.submitToRay(ctx, d, req); err != nil {
		return d, err
	}
	after, err := s.recordAccepted(ctx, d)
	if err == nil {
		s.stopIfCancelled(ctx, after)
	}
	return after, err
}

// submitToRay hands the current attempt to Ray within SubmitTimeout.
func (s *Service) submitToRay(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error {
	sctx, cancel := context.WithTimeout(ctx, s.Settings.SubmitTimeout)
	defer cancel()
	return s.Ray.Submit(sctx, d, req)
}

// recordAccepted records that Ray holds d's current submission (unless the entry moved on).
func (s *Service) recordAccepted(ctx context.Context, d deliberation.Deliberation) (deliberation.Deliberation, error) {
	now := s.Clock.Now()
	after, _, err := s.transition(ctx, d, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		if cur.SubmissionID != d.SubmissionID {
			return cur, false
		}
		return cur.AcceptedByRay(now)
	})
	if err != nil {
		s.Log.WarnContext(ctx, "ray acceptance not recorded", "deliberation_id", d.ID, "error", err)
		return d, err
	}
	return after, nil
}

// submission is execute's answer for d; onRay tells whether Ray is known to hold its job.
func submission(d deliberation.Deliberation, replayed, onRay bool) Submission {
	msg := MessageQueued
	if onRay || d.Status != deliberation.StatusSubmitted {
		msg = MessageSubmitted
	}
	return Submission{DeliberationID: d.ID, TaskID: d.TaskID, Status: deliberation.StatusSubmitted, Message: msg, Replayed: replayed}
}
