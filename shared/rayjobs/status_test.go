package rayjobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

func exitCode(n int) *int { return &n }

func TestStatusOf(t *testing.T) {
	t.Parallel()
	logs := strings.Repeat("a prompt with secrets\n", 1000)
	tests := []struct {
		name    string
		job     JobDetails
		state   deliberation.JobState
		infra   bool
		summary string
	}{
		{"pending", JobDetails{Status: deliberation.JobPending}, deliberation.JobPending, false, ""},
		{"running", JobDetails{Status: deliberation.JobRunning}, deliberation.JobRunning, false, ""},
		{"succeeded", JobDetails{Status: deliberation.JobSucceeded, DriverExitCode: exitCode(0), Message: "Job finished successfully."},
			deliberation.JobSucceeded, false, ""},
		{"stopped", JobDetails{Status: deliberation.JobStopped, Message: "Job was intentionally stopped."}, deliberation.JobStopped, false, ""},
		{"entrypoint exit code", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_ENTRYPOINT_COMMAND_ERROR", DriverExitCode: exitCode(3),
			Message: "Job entrypoint command failed with exit code 3, last available logs (truncated to 20,000 chars):\n" + logs},
			deliberation.JobFailed, false, "JOB_ENTRYPOINT_COMMAND_ERROR, exit code 3: Job entrypoint command failed with exit code 3"},
		{"entrypoint cannot start", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_ENTRYPOINT_COMMAND_START_ERROR",
			Message: "Failed to start the entrypoint"}, deliberation.JobFailed, false, "JOB_ENTRYPOINT_COMMAND_START_ERROR: Failed to start the entrypoint"},
		{"runtime env", JobDetails{Status: deliberation.JobFailed, ErrorType: "RUNTIME_ENV_SETUP_FAILURE",
			Message: "runtime_env setup failed: Failed to set up runtime environment.\nTraceback..."},
			deliberation.JobFailed, true, "RUNTIME_ENV_SETUP_FAILURE: runtime_env setup failed: Failed to set up runtime environment."},
		{"supervisor died", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_DIED", Message: "\x1b[31mnode died\r\n"},
			deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_DIED: node died"},
		{"unschedulable", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE"},
			deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE"},
		{"start timeout", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"}, deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"},
		{"start failure", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_START_FAILURE"}, deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_START_FAILURE"},
		{"unknown supervisor failure", JobDetails{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE"}, deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE"},
		{"unknown failure", JobDetails{Status: deliberation.JobFailed}, deliberation.JobFailed, false, "Ray reported the job FAILED"},
		{"huge first line", JobDetails{Status: deliberation.JobFailed, Message: strings.Repeat("x", 30000)}, deliberation.JobFailed, false, strings.Repeat("x", maxSummary) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := statusOf(tt.job)
			if st.State != tt.state || st.Infrastructure != tt.infra || st.Summary != tt.summary {
				t.Fatalf("status %+v, want %s infrastructure=%v summary %q", st, tt.state, tt.infra, tt.summary)
			}
		})
	}
}

func TestStatusTimes(t *testing.T) {
	t.Parallel()
	st := statusOf(JobDetails{Status: deliberation.JobSucceeded, StartTime: 1795728837099, EndTime: 1795728839604})
	if got := st.EndTime.Sub(st.StartTime); got != 2505*time.Millisecond {
		t.Fatalf("execution time %v", got)
	}
	if !st.StartTime.Equal(time.UnixMilli(1795728837099)) {
		t.Fatalf("start %v", st.StartTime)
	}
	if st := statusOf(JobDetails{Status: deliberation.JobRunning, StartTime: 1795728837099}); !st.EndTime.IsZero() {
		t.Fatalf("a running job has an end time %v", st.EndTime)
	}
}

// TestJobDetailsDecodeLeniently decodes what Ray 2.60 answers while a job is pending, with a field
// from the future and a numeric pid added.
func TestJobDetailsDecodeLeniently(t *testing.T) {
	t.Parallel()
	const body = `{"type": "SUBMISSION", "job_id": null, "submission_id": "probe-1",
	"driver_info": {"id": "01000000", "node_ip_address": "10.0.0.1", "pid": 4242},
	"status": "PENDING", "entrypoint": "python x.py", "message": "Job has not started yet.",
	"error_type": null, "start_time": 1795728603498, "end_time": null, "metadata": {"app": "x"},
	"runtime_env": {"env_vars": {"A": "b"}}, "driver_agent_http_address": null, "driver_node_id": null,
	"driver_exit_code": null, "entrypoint_label_selector": {"zone": "a"}, "new_field": [1, 2]}`
	var j JobDetails
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	if j.JobID != "" || j.SubmissionID != "probe-1" || j.Status != deliberation.JobPending || j.EndTime != 0 ||
		j.DriverExitCode != nil || j.DriverInfo.PID != "4242" || j.Metadata["app"] != "x" || len(j.RuntimeEnv) == 0 {
		t.Fatalf("decoded %+v", j)
	}
}
