package app

import (
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// StatusReport is the status response, also the data of lifecycle events.
type StatusReport struct {
	DeliberationID  string               `json:"deliberation_id"`
	TaskID          string               `json:"task_id,omitempty"`
	Role            string               `json:"role,omitempty"`
	Status          deliberation.Status  `json:"status"`
	ErrorMessage    string               `json:"error_message,omitempty"`
	SubmittedAt     *time.Time           `json:"submitted_at,omitempty"`
	StartedAt       *time.Time           `json:"started_at,omitempty"`
	FinishedAt      *time.Time           `json:"finished_at,omitempty"`
	ExecutionTimeMS int64                `json:"execution_time_ms,omitempty"`
	Attempts        int                  `json:"attempts,omitempty"`
	SubmissionID    string               `json:"submission_id,omitempty"`
	TotalAgents     int                  `json:"total_agents,omitempty"`
	Result          *deliberation.Result `json:"result,omitempty"`
	// Reason and CancelledAt answer a cancelled deliberation: the caller's reason and when.
	Reason      string     `json:"reason,omitempty"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	// Caller is who created the deliberation (absent for those from before callers had names).
	Caller string `json:"caller,omitempty"`
	// Cluster names the Ray cluster running, or having run, the current attempt (absent until
	// Ray reports one); Pool is the request's pool of clusters (absent only in not_found).
	Cluster string `json:"cluster,omitempty"`
	Pool    string `json:"pool,omitempty"`
}

// ReportOf renders an entry as the status response.
func ReportOf(d deliberation.Deliberation) StatusReport {
	return StatusReport{
		DeliberationID: d.ID, TaskID: d.TaskID, Role: d.Role, Status: d.Status, ErrorMessage: d.ErrorMessage,
		SubmittedAt: timeOrNil(d.SubmittedAt), StartedAt: timeOrNil(d.StartedAt), FinishedAt: timeOrNil(d.FinishedAt),
		ExecutionTimeMS: d.ExecutionTimeMS, Attempts: d.Attempts, SubmissionID: d.SubmissionID,
		TotalAgents: d.TotalAgents, Result: d.Result, Reason: d.Reason, CancelledAt: timeOrNil(d.CancelledAt),
		Caller: d.Caller, Cluster: d.Cluster, Pool: d.PoolName(),
	}
}

// NotFoundReport is the answer about an id the store does not hold.
func NotFoundReport(id string) StatusReport {
	return StatusReport{DeliberationID: id, Status: deliberation.StatusNotFound, ErrorMessage: "Deliberation " + id + " not found"}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
