package raytest

import (
	"maps"
	"strconv"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Outcome is what becomes of a submitted job: PENDING for PendFor, RUNNING for RunFor, then Status.
// The zero Outcome runs at once until it is stopped.
type Outcome struct {
	PendFor time.Duration
	RunFor  time.Duration
	// Status is the end, SUCCEEDED or FAILED; "" keeps the job RUNNING until it is stopped.
	Status deliberation.JobState
	// ExitCode is the driver's exit code of an entrypoint failure (FAILED with ErrorType "" or
	// JOB_ENTRYPOINT_COMMAND_ERROR; 1 when left 0). Other failures are Ray's and have none.
	ExitCode int
	// ErrorType and Message describe a failure; by default, those Ray gives an exit code.
	ErrorType string
	Message   string
	// Logs is what the entrypoint prints; Ray's own first lines come before it.
	Logs string
}

// Succeeds is a job that runs for d and succeeds after printing logs.
func Succeeds(d time.Duration, logs string) Outcome {
	return Outcome{RunFor: d, Status: deliberation.JobSucceeded, Logs: logs}
}

// Fails is a job that runs for d, prints logs and exits with code.
func Fails(d time.Duration, code int, logs string) Outcome {
	return Outcome{RunFor: d, Status: deliberation.JobFailed, ExitCode: code, Logs: logs}
}

// OnEntrypoint makes jobs submitted with exactly this entrypoint follow o.
func (s *Server) OnEntrypoint(entrypoint string, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[entrypoint] = o
}

// SetDefaultOutcome sets what becomes of jobs whose entrypoint has no outcome of its own.
func (s *Server) SetDefaultOutcome(o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = o
}

// Job is a snapshot of one job as the fake holds it.
type Job struct {
	SubmissionID string
	Entrypoint   string
	Status       deliberation.JobState
	Message      string
	ErrorType    string
	// DriverExitCode is nil until the driver exits (and for failures in Ray itself).
	DriverExitCode *int
	// StartTime and EndTime are unix milliseconds; EndTime is 0 until the job ends.
	StartTime, EndTime int64
	Metadata           map[string]string
	// RuntimeEnv is the runtime_env as submitted; WorkingDir and EnvVars are read from it.
	RuntimeEnv          map[string]any
	WorkingDir          string
	EnvVars             map[string]string
	EntrypointNumCPUs   *float64
	EntrypointResources map[string]float64
	Logs                string
}

func (j Job) clone() Job {
	j.Metadata, j.RuntimeEnv = maps.Clone(j.Metadata), maps.Clone(j.RuntimeEnv)
	j.EnvVars, j.EntrypointResources = maps.Clone(j.EnvVars), maps.Clone(j.EntrypointResources)
	if j.DriverExitCode != nil {
		code := *j.DriverExitCode
		j.DriverExitCode = &code
	}
	return j
}

// Job returns a snapshot of the job with this submission id.
func (s *Server) Job(submissionID string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raiseGhosts(s.now())
	j, ok := s.jobs[submissionID]
	if !ok {
		return Job{}, false
	}
	j.advance(s.now())
	return j.Job.clone(), true
}

// Jobs returns snapshots of every job, oldest first.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.raiseGhosts(now)
	out := make([]Job, 0, len(s.order))
	for _, id := range s.order {
		j := s.jobs[id]
		j.advance(now)
		out = append(out, j.Job.clone())
	}
	return out
}

// UpdateJob changes a job's state with f (its status, error type, exit code, logs...); from then
// on the job keeps what f left instead of following its outcome. It reports whether the job exists.
func (s *Server) UpdateJob(submissionID string, f func(*Job)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[submissionID]
	if !ok {
		return false
	}
	j.advance(s.now())
	f(&j.Job)
	j.manual = true
	return true
}

// job is a job and what drives its state.
type job struct {
	Job
	created       time.Time
	outcome       Outcome
	manual        bool
	stopRequested bool
	// missingPackage is the working_dir package that did not exist at submission: Ray fails such
	// a job while it sets up its runtime env.
	missingPackage string
	started        bool
}

// advance moves the job along its outcome up to now.
func (j *job) advance(now time.Time) {
	if j.manual || j.Status.Terminal() {
		return
	}
	o := j.outcome
	startAt := j.created.Add(o.PendFor)
	if now.Before(startAt) {
		return
	}
	switch {
	case j.stopRequested:
		j.end(deliberation.JobStopped, startAt, "Job was intentionally stopped.")
		return
	case j.missingPackage != "":
		j.ErrorType = "RUNTIME_ENV_SETUP_FAILURE"
		j.end(deliberation.JobFailed, startAt, "runtime_env setup failed: Failed to set up runtime environment.\n"+
			"Could not create the actor because its associated runtime env failed to be created.\n"+
			traceback("packaging.py", "OSError: Failed to download runtime_env file package gcs://"+j.missingPackage+
				" from the GCS to the Ray worker node. The package may have prematurely been deleted from the GCS."))
		return
	}
	if !j.started {
		j.started = true
		j.Status, j.Message = deliberation.JobRunning, "Job is currently running."
		j.Logs = startAt.Format("2006-01-02 15:04:05,000") + "\tINFO job_manager.py:581 -- Runtime env is setting up.\n" +
			"Running entrypoint for job " + j.SubmissionID + ": " + j.Entrypoint + "\n" + o.Logs
	}
	endAt := startAt.Add(o.RunFor)
	if o.Status == "" || now.Before(endAt) {
		return
	}
	if o.Status == deliberation.JobSucceeded {
		code := 0
		j.DriverExitCode = &code
		j.end(deliberation.JobSucceeded, endAt, "Job finished successfully.")
		return
	}
	j.ErrorType = o.ErrorType
	msg := o.Message
	if o.ErrorType == "" || o.ErrorType == "JOB_ENTRYPOINT_COMMAND_ERROR" {
		code := o.ExitCode
		if code == 0 {
			code = 1
		}
		j.DriverExitCode, j.ErrorType = &code, "JOB_ENTRYPOINT_COMMAND_ERROR"
		if msg == "" {
			msg = "Job entrypoint command failed with exit code " + strconv.Itoa(code) +
				", last available logs (truncated to 20,000 chars):\n" + lastChars(j.Logs, 20000)
		}
	}
	j.end(o.Status, endAt, msg)
}

func (j *job) end(status deliberation.JobState, at time.Time, message string) {
	j.Status, j.Message, j.EndTime = status, message, at.UnixMilli()
}

// stop asks the job to stop: a running job stops now, a pending one when it would have started,
// as Ray's supervisor only acts once it runs.
func (j *job) stop(now time.Time) bool {
	j.advance(now)
	if j.Status.Terminal() {
		return false
	}
	if j.Status == deliberation.JobRunning || j.manual {
		j.end(deliberation.JobStopped, now, "Job was intentionally stopped.")
		return true
	}
	j.stopRequested = true
	return true
}

func lastChars(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[len(r)-n:])
}
