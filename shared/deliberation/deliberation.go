package deliberation

import (
	"fmt"
	"time"
)

// Deliberation is the registry entry of one deliberation. It is a value: transitions return a new
// Deliberation and say whether anything changed, and a terminal entry never changes again.
type Deliberation struct {
	ID           string    `json:"id"`
	TaskID       string    `json:"task_id"`
	Role         string    `json:"role"`
	Status       Status    `json:"status"`
	ErrorMessage string    `json:"error_message,omitempty"`
	SubmittedAt  time.Time `json:"submitted_at"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	Deadline     time.Time `json:"deadline"`
	UpdatedAt    time.Time `json:"updated_at"`
	// ExecutionTimeMS is Ray's end_time - start_time of the last attempt.
	ExecutionTimeMS int64 `json:"execution_time_ms,omitempty"`
	// Attempts counts the Ray jobs submitted (or being submitted) so far; SubmissionID is the last.
	Attempts     int    `json:"attempts"`
	MaxAttempts  int    `json:"max_attempts"`
	SubmissionID string `json:"submission_id"`
	// AttemptAt is when the current attempt was created, to tell a job stuck PENDING.
	AttemptAt time.Time `json:"attempt_at"`
	// OnRay is true once Ray acknowledged the current submission.
	OnRay bool `json:"on_ray,omitempty"`
	// RayStatus is Ray's word for the current job (PENDING or RUNNING) as last seen.
	RayStatus JobState `json:"ray_status,omitempty"`
	// StoppedByService marks a job the service stopped itself: it is never resubmitted.
	StoppedByService bool    `json:"stopped_by_service,omitempty"`
	TotalAgents      int     `json:"total_agents"`
	Result           *Result `json:"result,omitempty"`
	// Reason and CancelledAt are set by a cancel: the caller's reason (may be empty) and when.
	Reason      string    `json:"reason,omitempty"`
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
	// Caller is the name of the caller that created it; empty for entries stored before callers
	// had names, which only operators see.
	Caller string `json:"caller,omitempty"`
	// Cluster names the Ray cluster running, or having run, the current attempt; empty until
	// the Ray side reports one.
	Cluster string `json:"cluster,omitempty"`
	// Pool is the request's pool of Ray clusters, kept here so answers need not read the request;
	// empty for the default pool, as entries stored before pools existed read.
	Pool string `json:"pool,omitempty"`
}

// PoolName is the pool the deliberation's attempts run in.
func (d Deliberation) PoolName() string {
	if d.Pool == "" {
		return DefaultPool
	}
	return d.Pool
}

// PlacedOn records the Ray cluster that holds the current attempt.
func (d Deliberation) PlacedOn(cluster string, now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() || cluster == "" || d.Cluster == cluster {
		return d, false
	}
	d.Cluster, d.UpdatedAt = cluster, now
	return d, true
}

// New starts the lifecycle of a validated request: submitted, first attempt, deadline from timeout.
func New(id string, req Request, now time.Time) Deliberation {
	return Deliberation{
		ID: id, TaskID: req.TaskID, Role: req.Role, Status: StatusSubmitted,
		SubmittedAt: now, UpdatedAt: now, AttemptAt: now,
		Deadline: now.Add(time.Duration(req.Constraints.TimeoutSeconds) * time.Second),
		Attempts: 1, MaxAttempts: 1 + req.Constraints.MaxRetries,
		SubmissionID: SubmissionID(id, 1), TotalAgents: len(req.Agents), Pool: req.Pool,
	}
}

// AcceptedByRay records that Ray holds the current submission.
func (d Deliberation) AcceptedByRay(now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() || d.OnRay {
		return d, false
	}
	d.OnRay, d.UpdatedAt = true, now
	if d.RayStatus == "" {
		d.RayStatus = JobPending
	}
	return d, true
}

// Running records that Ray runs the current job; the first sighting sets started_at.
func (d Deliberation) Running(now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() || (d.Status == StatusRunning && d.RayStatus == JobRunning) {
		return d, false
	}
	d.Status, d.OnRay, d.RayStatus, d.UpdatedAt = StatusRunning, true, JobRunning, now
	if d.StartedAt.IsZero() {
		d.StartedAt = now
	}
	return d, true
}

// Complete records a result. A result without any proposal makes the deliberation failed, never
// completed.
func (d Deliberation) Complete(r Result, executionTimeMS int64, now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() {
		return d, false
	}
	d.Result, d.ExecutionTimeMS = &r, max(executionTimeMS, 0)
	if r.CompletedAgents == 0 {
		return d.finish(StatusFailed, r.Summary(), now), true
	}
	return d.finish(StatusCompleted, "", now), true
}

// Fail records a failure with a short message for humans.
func (d Deliberation) Fail(message string, now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() {
		return d, false
	}
	return d.finish(StatusFailed, message, now), true
}

// TimedOut fails a deliberation past its deadline.
func (d Deliberation) TimedOut(now time.Time) (Deliberation, bool) {
	if d.Status.Terminal() || now.Before(d.Deadline) {
		return d, false
	}
	return d.Fail(fmt.Sprintf("timed out after %d s", int(d.Deadline.Sub(d.SubmittedAt)/time.Second)), now)
}

// CanRetry reports whether an infrastructure failure of the current job may be retried.
func (d Deliberation) CanRetry() bool {
	return !d.Status.Terminal() && !d.StoppedByService && d.Attempts < d.MaxAttempts
}

// NextAttempt moves to the next deterministic submission id after an infrastructure failure.
// The attempt is back to submitted and will have its own started event.
func (d Deliberation) NextAttempt(now time.Time) (Deliberation, bool) {
	if !d.CanRetry() {
		return d, false
	}
	d.Attempts++
	d.SubmissionID = SubmissionID(d.ID, d.Attempts)
	d.Status, d.OnRay, d.RayStatus, d.UpdatedAt, d.AttemptAt = StatusSubmitted, false, "", now, now
	d.Cluster = ""
	return d, true
}

// Cancel ends a submitted or running deliberation on a caller's request; its Ray work is to be
// stopped by the service (so it is marked stopping, never resubmitted). A terminal entry, cancelled
// or not, does not change.
func (d Deliberation) Cancel(reason string, now time.Time) (Deliberation, bool) {
	if d.Status != StatusSubmitted && d.Status != StatusRunning {
		return d, false
	}
	d.StoppedByService = true
	d = d.finish(StatusCancelled, "", now)
	d.Reason, d.CancelledAt = reason, now
	return d, true
}

// MarkStopping records that the service stops the job itself, so it is never resubmitted.
func (d Deliberation) MarkStopping(now time.Time) (Deliberation, bool) {
	if d.StoppedByService {
		return d, false
	}
	d.StoppedByService, d.UpdatedAt = true, now
	return d, true
}

// finish ends the entry. Its message often quotes Ray, the job or the runner (a failure summary,
// agents' errors), so control characters and terminal escapes are dropped before it is stored.
func (d Deliberation) finish(s Status, message string, now time.Time) Deliberation {
	d.Status, d.ErrorMessage, d.FinishedAt, d.UpdatedAt, d.RayStatus = s, Printable(message), now, now, ""
	return d
}

// JobName is the human-readable name of the deliberation's Ray job.
func (d Deliberation) JobName() string {
	return fmt.Sprintf("deliberation %s (%s, %s)", d.ID, d.TaskID, d.Role)
}
