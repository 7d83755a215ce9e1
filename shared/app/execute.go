package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Messages of the execute response.
const (
	MessageSubmitted = "Deliberation submitted to Ray cluster"
	MessageQueued    = "Deliberation accepted; Ray is unavailable, submission will be retried"
)

// ExecuteCommand is one execute request; IdempotencyKey is the HTTP header (the RPC's metadata)
// or, with FromEvent, the CloudEvent's source and id.
type ExecuteCommand struct {
	Input          deliberation.RequestInput
	IdempotencyKey string
	// FromEvent puts the key in the caller's namespace of event keys, apart from the keys it
	// chooses itself: an HTTP caller cannot pre-claim an event's key.
	FromEvent bool
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
		if id, err = s.keyedID(ctx, cmd); err != nil {
			return Submission{}, err
		}
	}
	if err := s.throttle(ctx); err != nil && !s.replays(ctx, cmd, id) {
		return Submission{}, err
	}
	if err := s.admit(ctx); err != nil && !s.replays(ctx, cmd, id) {
		return Submission{}, err
	}
	d, created, err := s.accept(ctx, id, req)
	if err != nil {
		return Submission{}, err
	}
	if !created {
		s.Log.InfoContext(ctx, "execute replayed", "deliberation_id", d.ID)
		return submission(d, true, d.OnRay), nil
	}
	if err := s.handToRay(ctx, d, req); err != nil {
		s.Log.WarnContext(ctx, "ray submission deferred", "deliberation_id", d.ID, "error", err)
		return submission(d, false, false), nil
	}
	// Ray holds the attempt: the answer need not wait for the bookkeeping. Should it be lost, the
	// next status check or reconcile pass records Ray's acceptance as it finds the attempt PENDING
	// or RUNNING.
	s.later(ctx, func(ctx context.Context) { _, _ = s.afterSubmit(ctx, d) })
	return submission(d, false, true), nil
}

// replays reports whether cmd names a deliberation already accepted: a refused execute still
// answers its replay (or its key's conflict), as the store's active limit does.
func (s *Service) replays(ctx context.Context, cmd ExecuteCommand, id string) bool {
	if cmd.IdempotencyKey == "" {
		return false
	}
	_, err := s.Store.Get(ctx, id)
	return err == nil
}

// submission is execute's answer for d; onRay tells whether Ray is known to hold its job.
func submission(d deliberation.Deliberation, replayed, onRay bool) Submission {
	msg := MessageQueued
	if onRay || d.Status != deliberation.StatusSubmitted {
		msg = MessageSubmitted
	}
	return Submission{DeliberationID: d.ID, TaskID: d.TaskID, Status: deliberation.StatusSubmitted, Message: msg, Replayed: replayed}
}

// keyedID is the deliberation id of cmd's idempotency key: in the namespace of its caller and of
// its kind (a key the caller chose, an event's), keyed by the server's secret.
func (s *Service) keyedID(ctx context.Context, cmd ExecuteCommand) (string, error) {
	secret := fixedTestSecret
	if s.Secrets != nil {
		var err error
		if secret, err = s.Secrets.IDSecret(ctx); err != nil {
			return "", err
		}
	}
	kind := "key"
	if cmd.FromEvent {
		kind = "event"
	}
	return deliberation.KeyedID(secret, kind+"\x00"+callers.From(ctx).Name, cmd.IdempotencyKey), nil
}

// fixedTestSecret keys the ids of a service without Secrets: only tests of the use cases build
// one (shared/wiring always sets Secrets).
var fixedTestSecret = []byte("rayexec-test-only-id-secret")
