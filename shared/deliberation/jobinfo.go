package deliberation

import (
	"fmt"
	"time"
)

// JobInfo describes one active Ray job of a deliberation.
type JobInfo struct {
	JobID            string   `json:"job_id"`
	Name             string   `json:"name"`
	Status           JobState `json:"status"`
	SubmissionID     string   `json:"submission_id"`
	Role             string   `json:"role"`
	TaskID           string   `json:"task_id"`
	StartTimeSeconds int64    `json:"start_time_seconds"`
	Runtime          string   `json:"runtime"`
	// Cluster names the Ray cluster holding the job; absent until Ray reports one.
	Cluster string `json:"cluster,omitempty"`
}

// JobInfoOf describes an active deliberation's current job as seen at now. A job Ray has not
// started yet (or not received yet) is PENDING.
func JobInfoOf(d Deliberation, now time.Time) (JobInfo, error) {
	if d.SubmissionID == "" || d.Status.Terminal() {
		return JobInfo{}, Errorf(CodeInvalid, "deliberation %s has no active job", d.ID)
	}
	start, status := d.SubmittedAt, JobPending
	if d.Status == StatusRunning {
		status = JobRunning
		if !d.StartedAt.IsZero() {
			start = d.StartedAt
		}
	}
	return JobInfo{
		JobID: d.SubmissionID, Name: d.JobName(), Status: status, SubmissionID: d.SubmissionID,
		Role: d.Role, TaskID: d.TaskID, StartTimeSeconds: max(start.Unix(), 0), Runtime: FormatRuntime(now.Sub(start)),
		Cluster: d.Cluster,
	}, nil
}

// FormatRuntime renders a duration as `0m 45s`, `5m 30s` or `1h 2m 5s`.
func FormatRuntime(d time.Duration) string {
	s := max(int64(d/time.Second), 0)
	h, m, sec := s/3600, s%3600/60, s%60
	if h > 0 {
		return fmt.Sprintf("%dh %dm %ds", h, m, sec)
	}
	return fmt.Sprintf("%dm %ds", m, sec)
}
