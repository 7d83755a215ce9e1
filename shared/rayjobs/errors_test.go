package rayjobs

import (
	"errors"
	"strings"
	"testing"
)

// duplicateBody is what Ray 2.60 answers a duplicate submission id with (abridged paths).
const duplicateBody = `Traceback (most recent call last):
  File "/ray/dashboard/modules/job/job_head.py", line 419, in submit_job
    resp = await job_agent_client.submit_job_internal(submit_request)
RuntimeError: Request failed with status code 400: Traceback (most recent call last):
  File "/ray/dashboard/modules/job/job_manager.py", line 553, in submit_job
    raise ValueError(
ValueError: Job with submission_id probe-1 already exists. Please use a different submission_id.
.
`

const deleteRunningBody = `Traceback (most recent call last):
  File "/ray/dashboard/modules/job/job_head.py", line 480, in delete_job
RuntimeError: Request failed with status code 500: Traceback (most recent call last):
  File "/ray/dashboard/modules/job/job_manager.py", line 655, in delete_job
    raise RuntimeError(
RuntimeError: Attempted to delete job 'probe-1', but it is in a non-terminal state RUNNING.
.
`

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		kind   error
		detail string
	}{
		{"duplicate submission id", 500, duplicateBody, ErrAlreadyExists,
			"ValueError: Job with submission_id probe-1 already exists. Please use a different submission_id."},
		{"delete of a running job (real server)", 500, deleteRunningBody, ErrNotTerminal,
			"RuntimeError: Attempted to delete job 'probe-1', but it is in a non-terminal state RUNNING."},
		{"delete of a running job (published spec)", 400, "job is in a non-terminal state RUNNING", ErrNotTerminal,
			"job is in a non-terminal state RUNNING"},
		{"not found", 404, "Job nope does not exist", ErrNotFound, "Job nope does not exist"},
		{"missing token", 401, "Unauthorized: Missing authentication token", ErrUnauthorized, "Unauthorized: Missing authentication token"},
		{"wrong token", 403, "Forbidden: Invalid authentication token", ErrUnauthorized, "Forbidden: Invalid authentication token"},
		{"other 500", 500, "No available agent to submit job, please try again later.", ErrUnavailable,
			"No available agent to submit job, please try again later."},
		{"gateway", 502, "<html>bad gateway</html>\n<body>", ErrUnavailable, "<html>bad gateway</html>"},
		{"too many requests", 429, "slow down", ErrUnavailable, "slow down"},
		{"bad request", 400, "Traceback (most recent call last):\n  File \"x\"\nTypeError: JobSubmitRequest.__init__() got an unexpected keyword argument 'bogus'\n",
			ErrRejected, "TypeError: JobSubmitRequest.__init__() got an unexpected keyword argument 'bogus'"},
		{"empty body", 503, "", ErrUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := classify("op", tt.status, tt.body)
			if !errors.Is(e, tt.kind) {
				t.Fatalf("kind of %v, want %v", e, tt.kind)
			}
			if e.Detail != tt.detail {
				t.Fatalf("detail %q, want %q", e.Detail, tt.detail)
			}
		})
	}
}

func TestSummarizeKeepsOneShortLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 500) + "\nsecond line"
	got := summarize(long)
	if strings.Contains(got, "second") || len(got) > maxDetail+len("…") {
		t.Fatalf("summary of %d bytes: %q", len(got), got)
	}
	if !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("summary cut badly: %q", got)
	}
	// A traceback without an exception line keeps its first line.
	if got := summarize("Traceback (most recent call last):\n  File \"x\"\n"); got != "Traceback (most recent call last):" {
		t.Fatalf("summary %q", got)
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	e := classify("submit", 500, duplicateBody)
	msg := e.Error()
	if !strings.HasPrefix(msg, "ray submit: submission id already exists (HTTP 500): ValueError") {
		t.Fatalf("message %q", msg)
	}
	if strings.Contains(msg, "Traceback") || strings.Contains(msg, "job_head.py") {
		t.Fatalf("message carries the body: %q", msg)
	}
}
