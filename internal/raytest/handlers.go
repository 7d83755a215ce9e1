package raytest

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	// goccy/go-json decodes as encoding/json does, at a fraction of its CPU: the bench runs this
	// fake on the same two cores as the function it measures.
	json "github.com/goccy/go-json"

	"github.com/rayexecutor/functions/shared/deliberation"
)

func (s *Server) version(*http.Request) answer {
	return jsonAnswer(map[string]string{"version": "4", "ray_version": "2.60.0",
		"ray_commit": "raytest", "session_name": "session_raytest"})
}

// submitKeys are the keys of Ray's JobSubmitRequest; any other is refused.
var submitKeys = []string{"entrypoint", "submission_id", "job_id", "runtime_env", "metadata",
	"entrypoint_num_cpus", "entrypoint_num_gpus", "entrypoint_memory", "entrypoint_resources",
	"entrypoint_label_selector"}

func (s *Server) submit(r *http.Request) answer {
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		return text(http.StatusInternalServerError, "Server got itself in trouble") // aiohttp on a non-JSON body
	}
	j, problem := parseSubmit(raw)
	if problem != "" {
		return text(http.StatusBadRequest, traceback("common.py", problem))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.SubmissionID == "" {
		j.SubmissionID = "raysubmit_" + rand.Text()[:16]
	}
	if _, dup := s.jobs[j.SubmissionID]; dup {
		return text(http.StatusInternalServerError, agentTraceback(http.StatusBadRequest,
			"ValueError: Job with submission_id "+j.SubmissionID+" already exists. Please use a different submission_id."))
	}
	o, ok := s.outcomes[j.Entrypoint]
	if !ok {
		o = s.fallback
	}
	now := s.now()
	j.Status, j.StartTime, j.Message = deliberation.JobPending, now.UnixMilli(), pendingMessage(j)
	state := &job{Job: j, created: now, outcome: o}
	if name, isGCS := strings.CutPrefix(j.WorkingDir, "gcs://"); isGCS {
		if _, exists := s.packages[name]; !exists {
			state.missingPackage = name
		}
	}
	s.jobs[j.SubmissionID] = state
	s.order = append(s.order, j.SubmissionID)
	return jsonAnswer(map[string]string{"job_id": j.SubmissionID, "submission_id": j.SubmissionID})
}

// parseSubmit checks a submit body as Ray's JobSubmitRequest does (null values are dropped
// first) and returns the job it describes, or the exception Ray raises.
func parseSubmit(raw map[string]json.RawMessage) (Job, string) {
	var j Job
	for k, v := range raw {
		if string(v) == "null" {
			delete(raw, k)
			continue
		}
		if !slices.Contains(submitKeys, k) {
			return j, "TypeError: JobSubmitRequest.__init__() got an unexpected keyword argument '" + k + "'"
		}
	}
	ep, ok := raw["entrypoint"]
	if !ok {
		return j, "TypeError: JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'"
	}
	if json.Unmarshal(ep, &j.Entrypoint) != nil {
		return j, "TypeError: entrypoint must be a string"
	}
	if v, ok := raw["submission_id"]; ok && json.Unmarshal(v, &j.SubmissionID) != nil {
		return j, "TypeError: submission_id must be a string if provided"
	}
	if v, ok := raw["metadata"]; ok && json.Unmarshal(v, &j.Metadata) != nil {
		return j, "TypeError: metadata values must be strings"
	}
	if v, ok := raw["runtime_env"]; ok {
		if json.Unmarshal(v, &j.RuntimeEnv) != nil {
			return j, "TypeError: runtime_env must be a dict"
		}
		var env struct {
			WorkingDir string            `json:"working_dir"`
			EnvVars    map[string]string `json:"env_vars"`
		}
		// Ray accepts other runtime_env shapes at submit and fails the job later; the fake only
		// reads the fields it can use.
		_ = json.Unmarshal(v, &env)
		j.WorkingDir, j.EnvVars = env.WorkingDir, env.EnvVars
	}
	if v, ok := raw["entrypoint_num_cpus"]; ok {
		var n float64
		if json.Unmarshal(v, &n) != nil {
			return j, "TypeError: entrypoint_num_cpus must be a number"
		}
		j.EntrypointNumCPUs = &n
	}
	if v, ok := raw["entrypoint_resources"]; ok && json.Unmarshal(v, &j.EntrypointResources) != nil {
		return j, "TypeError: entrypoint_resources must be a dict of numbers"
	}
	return j, ""
}

func pendingMessage(j Job) string {
	msg := "Job has not started yet."
	if (j.EntrypointNumCPUs != nil && *j.EntrypointNumCPUs > 0) || len(j.EntrypointResources) > 0 {
		msg += " It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available."
	}
	if len(j.RuntimeEnv) > 0 {
		msg += " It may be waiting for the runtime environment to be set up."
	}
	return msg
}

func (s *Server) list(*http.Request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.raiseGhosts(now)
	out := make([]details, 0, len(s.order))
	for _, id := range s.order {
		j := s.jobs[id]
		j.advance(now)
		out = append(out, j.details())
	}
	return jsonAnswer(out)
}

func (s *Server) get(r *http.Request) answer {
	return s.withJob(r, func(j *job) answer { return jsonAnswer(j.details()) })
}

func (s *Server) logs(r *http.Request) answer {
	return s.withJob(r, func(j *job) answer { return jsonAnswer(map[string]string{"logs": j.Logs}) })
}

func (s *Server) stop(r *http.Request) answer {
	return s.withJob(r, func(j *job) answer {
		return jsonAnswer(map[string]bool{"stopped": j.stop(s.now())})
	})
}

func (s *Server) delete(r *http.Request) answer {
	return s.withJob(r, func(j *job) answer {
		if !j.Status.Terminal() {
			return text(http.StatusInternalServerError, agentTraceback(http.StatusInternalServerError,
				fmt.Sprintf("RuntimeError: Attempted to delete job '%s', but it is in a non-terminal state %s.", j.SubmissionID, j.Status)))
		}
		s.remove(j.SubmissionID)
		if end := time.UnixMilli(j.EndTime); s.now().Before(end.Add(ghostAfter)) {
			s.ghosts[j.SubmissionID] = end.Add(ghostAfter)
		}
		return jsonAnswer(map[string]bool{"deleted": true})
	})
}

func (s *Server) remove(id string) {
	delete(s.jobs, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
}

// ghostAfter is when, after a job's end, Ray's job monitor notices that the job's supervisor actor
// is gone. A job deleted before then comes back as a ghost record: FAILED, JOB_SUPERVISOR_ACTOR_DIED,
// "Entrypoint not found." (Ray 2.60 does this; clients should delete settled jobs only).
const ghostAfter = 1500 * time.Millisecond

// raiseGhosts turns deleted-too-early jobs into the records Ray's monitor writes for them.
func (s *Server) raiseGhosts(now time.Time) {
	for id, at := range s.ghosts {
		if now.Before(at) {
			continue
		}
		delete(s.ghosts, id)
		if _, exists := s.jobs[id]; exists {
			continue
		}
		ghost := &job{Job: Job{SubmissionID: id, Entrypoint: "Entrypoint not found.", Status: deliberation.JobFailed,
			ErrorType: "JOB_SUPERVISOR_ACTOR_DIED", EndTime: at.UnixMilli(),
			Message: "Job supervisor actor died: The actor died unexpectedly before finishing this task."}, manual: true}
		s.jobs[id] = ghost
		s.order = append(s.order, id)
	}
}

// withJob runs f on the job the path names, brought up to date, under the lock.
func (s *Server) withJob(r *http.Request, f func(*job) answer) answer {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raiseGhosts(s.now())
	j, ok := s.jobs[id]
	if !ok {
		return text(http.StatusNotFound, "Job "+id+" does not exist")
	}
	j.advance(s.now())
	return f(j)
}

// details is a job as Ray's JobDetails renders it, nulls included.
type details struct {
	Type                   string                `json:"type"`
	JobID                  *string               `json:"job_id"`
	SubmissionID           string                `json:"submission_id"`
	DriverInfo             *struct{}             `json:"driver_info"`
	Status                 deliberation.JobState `json:"status"`
	Entrypoint             string                `json:"entrypoint"`
	Message                string                `json:"message"`
	ErrorType              *string               `json:"error_type"`
	StartTime              int64                 `json:"start_time"`
	EndTime                *int64                `json:"end_time"`
	Metadata               map[string]string     `json:"metadata"`
	RuntimeEnv             map[string]any        `json:"runtime_env"`
	DriverAgentHTTPAddress *string               `json:"driver_agent_http_address"`
	DriverNodeID           *string               `json:"driver_node_id"`
	DriverExitCode         *int                  `json:"driver_exit_code"`
}

func (j *job) details() details {
	d := details{Type: "SUBMISSION", SubmissionID: j.SubmissionID, Status: j.Status, Entrypoint: j.Entrypoint,
		Message: j.Message, StartTime: j.StartTime, Metadata: j.Metadata, RuntimeEnv: j.RuntimeEnv,
		DriverExitCode: j.DriverExitCode}
	if j.ErrorType != "" {
		d.ErrorType = &j.ErrorType
	}
	if j.EndTime != 0 {
		d.EndTime = &j.EndTime
	}
	if j.started {
		addr, node := "http://127.0.0.1:52365", "raytest-node"
		d.DriverAgentHTTPAddress, d.DriverNodeID = &addr, &node
	}
	return d
}

func (s *Server) packageGet(r *http.Request) answer {
	uri := r.PathValue("protocol") + "://" + r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.packages[r.PathValue("name")]; !ok || r.PathValue("protocol") != "gcs" {
		return text(http.StatusNotFound, "Package "+uri+" does not exist")
	}
	return answer{status: http.StatusOK}
}

func (s *Server) packagePut(r *http.Request) answer {
	data, err := io.ReadAll(r.Body)
	if err != nil || r.PathValue("protocol") != "gcs" {
		return text(http.StatusInternalServerError, traceback("job_head.py", "RuntimeError: cannot store the package"))
	}
	s.PutPackage(r.PathValue("name"), data)
	return answer{status: http.StatusOK}
}

// PutPackage stores a package as an upload would.
func (s *Server) PutPackage(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packages[name] = data
}

// Package returns a stored package.
func (s *Server) Package(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.packages[name]
	return data, ok
}

// DeletePackage drops a package, as Ray's garbage collection does with unreferenced ones.
func (s *Server) DeletePackage(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.packages, name)
}
