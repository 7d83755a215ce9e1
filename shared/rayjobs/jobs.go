package rayjobs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// SubmitRequest is the body of a submit. It has only the keys the server accepts: it refuses
// unknown keys with 400, and metadata values must be strings.
type SubmitRequest struct {
	Entrypoint          string             `json:"entrypoint"`
	SubmissionID        string             `json:"submission_id,omitempty"`
	RuntimeEnv          *RuntimeEnv        `json:"runtime_env,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`
	EntrypointNumCPUs   float64            `json:"entrypoint_num_cpus,omitempty"`
	EntrypointResources map[string]float64 `json:"entrypoint_resources,omitempty"`
}

// RuntimeEnv is the part of Ray's runtime_env this project uses.
type RuntimeEnv struct {
	// WorkingDir is a package URI such as gcs://_ray_pkg_<hash>.zip.
	WorkingDir string            `json:"working_dir,omitempty"`
	EnvVars    map[string]string `json:"env_vars,omitempty"`
}

// JobDetails is what Ray reports of a job. Decoding is lenient: unknown fields are ignored and
// nulls leave zero values (job_id is null until a driver connects, end_time until the job ends).
type JobDetails struct {
	Type                   string                `json:"type"`
	JobID                  string                `json:"job_id"`
	SubmissionID           string                `json:"submission_id"`
	DriverInfo             *DriverInfo           `json:"driver_info"`
	Status                 deliberation.JobState `json:"status"`
	Entrypoint             string                `json:"entrypoint"`
	Message                string                `json:"message"`
	ErrorType              string                `json:"error_type"`
	StartTime              int64                 `json:"start_time"` // unix ms
	EndTime                int64                 `json:"end_time"`   // unix ms
	Metadata               map[string]string     `json:"metadata"`
	RuntimeEnv             json.RawMessage       `json:"runtime_env"`
	DriverAgentHTTPAddress string                `json:"driver_agent_http_address"`
	DriverNodeID           string                `json:"driver_node_id"`
	DriverExitCode         *int                  `json:"driver_exit_code"`
}

// DriverInfo is the driver process of a job. Its pid is a string in the published spec; a number
// is accepted too.
type DriverInfo struct {
	ID            string     `json:"id"`
	NodeIPAddress string     `json:"node_ip_address"`
	PID           flexString `json:"pid"`
}

// flexString decodes a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number: %w", err)
	}
	*f = flexString(n)
	return nil
}

// Version is the answer of GET /api/version.
type Version struct {
	Version     string `json:"version"`
	RayVersion  string `json:"ray_version"`
	RayCommit   string `json:"ray_commit"`
	SessionName string `json:"session_name"`
}

const (
	maxJobBody  = 4 << 20  // one job: its runtime_env holds a request of up to 100 KiB
	maxListBody = 64 << 20 // every job Ray still keeps
	maxIDLength = 255
)

// Version asks which Jobs API and Ray version the cluster runs; it is a cheap health check.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.getJSON(ctx, request{op: "version", method: http.MethodGet, path: "/api/version",
		idempotent: true, maxBody: maxJobBody}, &v)
	return v, err
}

// Submit starts a job and returns its submission id. It is tried once: after an ambiguous failure
// the caller should Get the job before deciding (see Cluster.Submit).
func (c *Client) Submit(ctx context.Context, sr SubmitRequest) (string, error) {
	const op = "submit"
	if sr.Entrypoint == "" {
		return "", &Error{Op: op, kind: ErrInvalidArgument, Detail: "entrypoint cannot be empty"}
	}
	if sr.SubmissionID != "" {
		if err := checkID(op, sr.SubmissionID); err != nil {
			return "", err
		}
	}
	body, err := json.Marshal(sr)
	if err != nil {
		return "", &Error{Op: op, kind: ErrInvalidArgument, cause: err, Detail: "cannot encode the request"}
	}
	var out struct {
		SubmissionID string `json:"submission_id"`
		JobID        string `json:"job_id"`
	}
	// The real server routes submit (and list) WITH the trailing slash only.
	err = c.getJSON(ctx, request{op: op, method: http.MethodPost, path: "/api/jobs/", body: body,
		contentType: "application/json", maxBody: maxJobBody}, &out)
	if err != nil {
		return "", err
	}
	if out.SubmissionID == "" {
		out.SubmissionID = out.JobID // servers before submission ids answered job_id only
	}
	return out.SubmissionID, nil
}

// Get returns a job's details; ErrNotFound when Ray has no such job.
func (c *Client) Get(ctx context.Context, submissionID string) (JobDetails, error) {
	var j JobDetails
	if err := checkID("get", submissionID); err != nil {
		return j, err
	}
	err := c.getJSON(ctx, request{op: "get", method: http.MethodGet, path: jobPath(submissionID, ""),
		idempotent: true, maxBody: maxJobBody}, &j)
	return j, err
}

// List returns every job Ray keeps, submitted ones and plain drivers. An entry that does not
// decode is skipped rather than failing the whole list: one odd job must not hide the others.
func (c *Client) List(ctx context.Context) ([]JobDetails, error) {
	var raw []json.RawMessage
	if err := c.getJSON(ctx, request{op: "list", method: http.MethodGet, path: "/api/jobs/",
		idempotent: true, maxBody: maxListBody}, &raw); err != nil {
		return nil, err
	}
	jobs := make([]JobDetails, 0, len(raw))
	for _, r := range raw {
		var j JobDetails
		if json.Unmarshal(r, &j) == nil {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// Stop asks Ray to stop a job; it reports whether the job was still running. Stopping is
// idempotent, so it is retried like a GET.
func (c *Client) Stop(ctx context.Context, submissionID string) (bool, error) {
	if err := checkID("stop", submissionID); err != nil {
		return false, err
	}
	var out struct {
		Stopped bool `json:"stopped"`
	}
	err := c.getJSON(ctx, request{op: "stop", method: http.MethodPost, path: jobPath(submissionID, "/stop"),
		idempotent: true, maxBody: maxJobBody}, &out)
	return out.Stopped, err
}

// Delete removes a terminal job's record; ErrNotTerminal while it is pending or running.
func (c *Client) Delete(ctx context.Context, submissionID string) (bool, error) {
	if err := checkID("delete", submissionID); err != nil {
		return false, err
	}
	var out struct {
		Deleted bool `json:"deleted"`
	}
	err := c.getJSON(ctx, request{op: "delete", method: http.MethodDelete, path: jobPath(submissionID, ""),
		idempotent: true, maxBody: maxJobBody}, &out)
	return out.Deleted, err
}

// getJSON runs req and decodes its JSON answer into out.
func (c *Client) getJSON(ctx context.Context, req request, out any) error {
	res, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		return &Error{Op: req.op, kind: ErrProtocol, cause: err, Detail: truncate(err.Error(), maxDetail)}
	}
	return nil
}

func jobPath(submissionID, suffix string) string {
	return "/api/jobs/" + url.PathEscape(submissionID) + suffix
}

// checkID admits only ids that are plain path segments: Ray's own (raysubmit_...), ours
// (delib-...-a2) and other callers' reasonable ones. Anything else never reaches a URL.
func checkID(op, id string) error {
	if !safeName(id, maxIDLength) {
		return &Error{Op: op, kind: ErrInvalidArgument,
			Detail: fmt.Sprintf("an id must be 1-%d characters of [A-Za-z0-9._:-], not starting with . or -; got %d bytes", maxIDLength, len(id))}
	}
	return nil
}

// safeName reports whether s is 1 to max characters of [A-Za-z0-9._:-], not starting with a dot
// or a dash, so it can be neither a relative path segment nor an option.
func safeName(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
