package rayjobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// infrastructureErrors are the error_type values of Ray's JobErrorType
// (ray/dashboard/modules/job/common.py) that mean Ray's machinery failed around the job: its
// supervisor actor, its runtime env or its scheduling. Such a job may be resubmitted. The two
// JOB_ENTRYPOINT_COMMAND_* values are our entrypoint's own failure (an exit code, a command that
// cannot start) and a new attempt would fail the same way.
var infrastructureErrors = map[string]bool{
	"RUNTIME_ENV_SETUP_FAILURE":            true,
	"JOB_SUPERVISOR_ACTOR_START_TIMEOUT":   true,
	"JOB_SUPERVISOR_ACTOR_START_FAILURE":   true,
	"JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE":   true,
	"JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE": true,
	"JOB_SUPERVISOR_ACTOR_DIED":            true,
}

// maxSummary bounds a failure summary: it is stored and shown, Ray's message is not.
const maxSummary = 300

// Status reports a job's state as the application sees it.
func (c *Cluster) Status(ctx context.Context, submissionID string) (app.AttemptStatus, error) {
	j, err := c.client.Get(ctx, submissionID)
	if err != nil {
		return app.AttemptStatus{}, domainError(err, jobLabel(submissionID))
	}
	return statusOf(j), nil
}

func statusOf(j JobDetails) app.AttemptStatus {
	st := app.AttemptStatus{State: j.Status, StartTime: msTime(j.StartTime), EndTime: msTime(j.EndTime)}
	if j.Status == deliberation.JobFailed {
		st.Infrastructure = infrastructureErrors[j.ErrorType]
		st.Summary = failureSummary(j)
	}
	return st
}

// failureSummary is the error type, the exit code and the first line of Ray's message. The rest
// of the message is the job's last 20,000 log characters (prompts, tracebacks): never kept.
func failureSummary(j JobDetails) string {
	var head []string
	if j.ErrorType != "" {
		head = append(head, j.ErrorType)
	}
	if j.DriverExitCode != nil {
		head = append(head, fmt.Sprintf("exit code %d", *j.DriverExitCode))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(j.Message), "\n")
	// Ray goes on to promise the logs that follow; the summary does not carry them.
	line, _, _ = strings.Cut(line, ", last available logs")
	line = strings.TrimSpace(deliberation.Printable(line))
	parts := strings.Join(head, ", ")
	switch {
	case parts == "" && line == "":
		return "Ray reported the job FAILED"
	case parts == "":
		return truncate(line, maxSummary)
	case line == "":
		return parts
	}
	return truncate(parts+": "+line, maxSummary)
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// jobLabel names a job in an error message, leaving out an id unfit for a log line.
func jobLabel(submissionID string) string {
	if !safeName(submissionID, maxIDLength) {
		return "job (invalid id)"
	}
	return "job " + submissionID
}
