package rayjobs_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// jobsAPI is a Jobs API to run the contract against: the fake, or a real Ray head.
type jobsAPI struct {
	addr   string
	client *rayjobs.Client
	// script tells the fake what a job with this entrypoint does; a real Ray runs the entrypoint.
	script func(entrypoint string, o raytest.Outcome)
	// within bounds how long a job may take to get where a test waits for it.
	within time.Duration
	// cleanup deletes a job the test leaves behind (a real Ray keeps jobs until they are deleted).
	cleanup func(t testing.TB, c *rayjobs.Client, id string)
}

func TestJobsContractFake(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	runJobsContract(t, jobsAPI{addr: s.URL(), client: c, script: s.OnEntrypoint, within: 5 * time.Second,
		cleanup: func(testing.TB, *rayjobs.Client, string) {}})
}

// TestJobsContractReal proves against a real Ray head what the fake claims about it.
func TestJobsContractReal(t *testing.T) {
	t.Parallel()
	addr := realRayAddress(t)
	c := newClient(t, addr, func(cfg *rayjobs.ClientConfig) { cfg.Timeout = 10 * time.Second })
	runJobsContract(t, jobsAPI{addr: addr, client: c, script: func(string, raytest.Outcome) {}, within: 90 * time.Second,
		cleanup: cleanupJob})
}

func runJobsContract(t *testing.T, api jobsAPI) {
	ctx := context.Background()
	c := api.client

	t.Run("version", func(t *testing.T) {
		t.Parallel()
		v, err := c.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v.Version == "" || v.RayVersion == "" {
			t.Fatalf("version %+v", v)
		}
	})

	t.Run("a job succeeds with its logs", func(t *testing.T) {
		t.Parallel()
		const entrypoint = `python -c "print('hello from the job')"`
		api.script(entrypoint, raytest.Succeeds(100*time.Millisecond, "hello from the job\n"))
		id := uniqueID("ok")
		api.cleanup(t, c, id)
		got, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id,
			Metadata: map[string]string{"app": "contract"}})
		if err != nil || got != id {
			t.Fatalf("submit: %q, %v", got, err)
		}
		j, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.SubmissionID != id || j.Type != "SUBMISSION" || j.Entrypoint != entrypoint || j.Metadata["app"] != "contract" || j.StartTime == 0 {
			t.Fatalf("fresh job %+v", j)
		}
		j = waitFor(t, c, id, api.within, terminal)
		if j.Status != deliberation.JobSucceeded || j.DriverExitCode == nil || *j.DriverExitCode != 0 || j.EndTime < j.StartTime {
			t.Fatalf("finished job %+v", j)
		}
		logs, err := c.Logs(ctx, id)
		if err != nil || !strings.Contains(logs, "hello from the job\n") {
			t.Fatalf("logs %q, %v", logs, err)
		}
		settle(j)
		if deleted, err := c.Delete(ctx, id); err != nil || !deleted {
			t.Fatalf("delete: %v, %v", deleted, err)
		}
		if _, err := c.Get(ctx, id); !errors.Is(err, rayjobs.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
	})

	t.Run("a submission id is used once", func(t *testing.T) {
		t.Parallel()
		const entrypoint = `python -c "print('once')"`
		api.script(entrypoint, raytest.Succeeds(50*time.Millisecond, "once\n"))
		id := uniqueID("dup")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id})
		var re *rayjobs.Error
		if !errors.Is(err, rayjobs.ErrAlreadyExists) || !errors.As(err, &re) || re.Status != http.StatusInternalServerError {
			t.Fatalf("second submit: %v", err)
		}
		jobs, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, j := range jobs {
			if j.SubmissionID == id {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d jobs listed under %s", n, id)
		}
	})

	t.Run("a job fails with its exit code", func(t *testing.T) {
		t.Parallel()
		const entrypoint = `python -c "import sys; print('boom'); sys.exit(3)"`
		api.script(entrypoint, raytest.Fails(100*time.Millisecond, 3, "boom\n"))
		id := uniqueID("fail")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id}); err != nil {
			t.Fatal(err)
		}
		j := waitFor(t, c, id, api.within, terminal)
		if j.Status != deliberation.JobFailed || j.DriverExitCode == nil || *j.DriverExitCode != 3 ||
			j.ErrorType != "JOB_ENTRYPOINT_COMMAND_ERROR" || !strings.Contains(j.Message, "exit code 3") || !strings.Contains(j.Message, "boom") {
			t.Fatalf("failed job %+v", j)
		}
	})

	t.Run("a stopped job can be deleted once", func(t *testing.T) {
		t.Parallel()
		const entrypoint = `python -c "import time; print('sleeping', flush=True); time.sleep(120)"`
		api.script(entrypoint, raytest.Outcome{Logs: "sleeping\n"})
		id := uniqueID("stop")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c, id, api.within, func(j rayjobs.JobDetails) bool { return j.Status == deliberation.JobRunning })
		if _, err := c.Delete(ctx, id); !errors.Is(err, rayjobs.ErrNotTerminal) {
			t.Fatalf("delete of a running job: %v", err)
		}
		if stopped, err := c.Stop(ctx, id); err != nil || !stopped {
			t.Fatalf("stop: %v, %v", stopped, err)
		}
		j := waitFor(t, c, id, api.within, terminal)
		if j.Status != deliberation.JobStopped {
			t.Fatalf("stopped job %+v", j)
		}
		// Stopping a stopped job is no error. Ray may still answer true while the job's supervisor
		// winds down (seen on a loaded machine), so only the error and the status are checked.
		if _, err := c.Stop(ctx, id); err != nil {
			t.Fatalf("second stop: %v", err)
		}
		if again := waitFor(t, c, id, api.within, terminal); again.Status != deliberation.JobStopped {
			t.Fatalf("after a second stop: %+v", again)
		}
		settle(j)
		if deleted, err := c.Delete(ctx, id); err != nil || !deleted {
			t.Fatalf("delete: %v, %v", deleted, err)
		}
		if _, err := c.Delete(ctx, id); !errors.Is(err, rayjobs.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})

	t.Run("a job deleted right after its end comes back as a ghost", func(t *testing.T) {
		t.Parallel()
		const entrypoint = `python -c "print('soon gone')"`
		api.script(entrypoint, raytest.Succeeds(50*time.Millisecond, "soon gone\n"))
		id := uniqueID("ghost")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c, id, api.within, terminal)
		if _, err := c.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			j, err := c.Get(ctx, id)
			if err == nil {
				if j.Status != deliberation.JobFailed || j.ErrorType != "JOB_SUPERVISOR_ACTOR_DIED" ||
					j.Entrypoint != "Entrypoint not found." || j.Metadata != nil {
					t.Fatalf("ghost %+v", j)
				}
				return
			}
			if !errors.Is(err, rayjobs.ErrNotFound) || time.Now().After(deadline) {
				t.Fatalf("no ghost after an early delete (Ray may have fixed its job monitor): %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("unknown jobs are not found", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("missing")
		_, getErr := c.Get(ctx, id)
		_, logsErr := c.Logs(ctx, id)
		_, stopErr := c.Stop(ctx, id)
		_, deleteErr := c.Delete(ctx, id)
		for _, err := range []error{getErr, logsErr, stopErr, deleteErr} {
			var re *rayjobs.Error
			if !errors.Is(err, rayjobs.ErrNotFound) || !errors.As(err, &re) || re.Detail != "Job "+id+" does not exist" {
				t.Fatalf("want not found, got %v", err)
			}
		}
	})

	t.Run("a job runs from a working_dir package", func(t *testing.T) {
		t.Parallel()
		marker := uniqueID("pkg")
		name, zip := zipPackage(t, map[string]string{"job.py": "print('from the package " + marker + "')\n"})
		const entrypoint = "python job.py"
		api.script(entrypoint, raytest.Succeeds(100*time.Millisecond, "from the package "+marker+"\n"))
		if ok, err := c.PackageExists(ctx, name); err != nil || ok {
			t.Fatalf("package exists before its upload: %v, %v", ok, err)
		}
		if err := c.UploadPackage(ctx, name, zip); err != nil {
			t.Fatal(err)
		}
		if ok, err := c.PackageExists(ctx, name); err != nil || !ok {
			t.Fatalf("package missing after its upload: %v, %v", ok, err)
		}
		id := uniqueID("pkg")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: entrypoint, SubmissionID: id,
			RuntimeEnv: &rayjobs.RuntimeEnv{WorkingDir: "gcs://" + name, EnvVars: map[string]string{"A": "b"}}}); err != nil {
			t.Fatal(err)
		}
		j := waitFor(t, c, id, api.within, terminal)
		logs, err := c.Logs(ctx, id)
		if j.Status != deliberation.JobSucceeded || err != nil || !strings.Contains(logs, "from the package "+marker) {
			t.Fatalf("package job %+v, logs %q, %v", j, logs, err)
		}
	})

	t.Run("a missing package fails the job in Ray's runtime env", func(t *testing.T) {
		t.Parallel()
		name, _ := zipPackage(t, map[string]string{"never.py": uniqueID("never")})
		id := uniqueID("nopkg")
		api.cleanup(t, c, id)
		if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "python never.py", SubmissionID: id,
			RuntimeEnv: &rayjobs.RuntimeEnv{WorkingDir: "gcs://" + name}}); err != nil {
			t.Fatal(err)
		}
		j := waitFor(t, c, id, api.within, terminal)
		if j.Status != deliberation.JobFailed || j.ErrorType != "RUNTIME_ENV_SETUP_FAILURE" || j.DriverExitCode != nil {
			t.Fatalf("job without its package %+v", j)
		}
	})

	t.Run("the server's own rules", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, method, path, body string
			status                   int
			text                     string
		}{
			{"submit without the trailing slash", http.MethodPost, "/api/jobs", `{"entrypoint": "echo"}`, http.StatusNotFound, ""},
			{"list without the trailing slash", http.MethodGet, "/api/jobs", "", http.StatusNotFound, ""},
			{"unknown submit key", http.MethodPost, "/api/jobs/", `{"entrypoint": "echo", "bogus": 1}`, http.StatusBadRequest,
				"unexpected keyword argument 'bogus'"},
			{"metadata value not a string", http.MethodPost, "/api/jobs/", `{"entrypoint": "echo", "metadata": {"a": 1}}`,
				http.StatusBadRequest, "TypeError"},
			{"missing package", http.MethodGet, "/api/packages/gcs/_ray_pkg_0000000000000000.zip", "", http.StatusNotFound,
				"Package gcs://_ray_pkg_0000000000000000.zip does not exist"},
		}
		for _, tt := range tests {
			req, err := http.NewRequestWithContext(ctx, tt.method, api.addr+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != tt.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") ||
				!strings.Contains(string(body), tt.text) {
				t.Errorf("%s: HTTP %d %s %q", tt.name, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
		}
	})
}
