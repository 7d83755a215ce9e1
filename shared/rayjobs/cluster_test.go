package rayjobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

const (
	testPackage    = "_ray_pkg_0123456789abcdef.zip"
	testEntrypoint = "python deliberation_job.py"
	testCallback   = "http://status.default.svc.cluster.local/"
)

func testConfig(addr string) rayjobs.Config {
	return rayjobs.Config{
		ClientConfig:      fastClientConfig(addr),
		JobPackage:        func() (string, []byte, error) { return testPackage, []byte("PK zip"), nil },
		PackageEntrypoint: testEntrypoint,
		CallbackURL:       testCallback,
		Policy:            testPolicy,
		Limits:            testLimits,
	}
}

// testLimits are the jobs' own limits in these tests, set in their environment.
var testLimits = deliberation.OwnLimits{AllowedOrigins: []string{"http://vllm:8000", "https://b.example:443"},
	CallbackURL: testCallback, MaxAgents: 16, MaxAnswerBytes: 4096, MaxTimeoutSeconds: 86400}

// testPolicy is the jobs' policy in these tests: the one model server testDeliberation names.
var testPolicy = deliberation.JobPolicy{AllowedOrigins: []string{"http://vllm:8000"}, MaxAnswerBytes: 4096}

func newCluster(t *testing.T, cfg rayjobs.Config) *rayjobs.Cluster {
	t.Helper()
	c, err := rayjobs.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testDeliberation is the contract suite's deliberation of two agents, submitted now.
func testDeliberation(t *testing.T) (deliberation.Deliberation, deliberation.Request) {
	return raycontract.Deliberation(t)
}

func code(err error) deliberation.Code { return deliberation.ErrorCode(err) }

func TestSubmitSendsTheJob(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	cfg := testConfig(s.URL())
	cfg.AuthToken, cfg.NumCPUs, cfg.Resources = "ray-s3cret", 0.25, map[string]float64{"vllm_client": 1}
	s.RequireToken("ray-s3cret")
	c := newCluster(t, cfg)
	d, req := testDeliberation(t)
	if err := c.Submit(context.Background(), d, req); err != nil {
		t.Fatal(err)
	}
	j, ok := s.Job(d.SubmissionID)
	if !ok {
		t.Fatalf("no job %s", d.SubmissionID)
	}
	payload, _ := req.JobPayload(d.ID, testPolicy)
	if j.Entrypoint != testEntrypoint || j.WorkingDir != "gcs://"+testPackage {
		t.Fatalf("entrypoint %q, working_dir %q", j.Entrypoint, j.WorkingDir)
	}
	if len(j.EnvVars) != 7 || j.EnvVars["RAY_EXECUTOR_REQUEST"] != string(payload) || j.EnvVars["RAY_EXECUTOR_CALLBACK_URL"] != testCallback {
		t.Fatalf("env_vars %v", j.EnvVars)
	}
	// The job's own limits, which it checks the request against (shared/rayjob/limits.py).
	for name, want := range map[string]string{"RAY_EXECUTOR_ALLOWED_ORIGINS": "http://vllm:8000,https://b.example:443",
		"RAY_EXECUTOR_MAX_AGENTS": "16", "RAY_EXECUTOR_MAX_ANSWER_BYTES": "4096", "RAY_EXECUTOR_MAX_TIMEOUT_S": "86400"} {
		if j.EnvVars[name] != want {
			t.Errorf("%s = %q, want %q", name, j.EnvVars[name], want)
		}
	}
	deadline, err := strconv.ParseFloat(j.EnvVars["RAY_EXECUTOR_DEADLINE_UNIX"], 64)
	if err != nil || math.Abs(deadline-float64(d.Deadline.UnixMilli())/1000) > 0.001 {
		t.Fatalf("deadline %q, want %v", j.EnvVars["RAY_EXECUTOR_DEADLINE_UNIX"], d.Deadline)
	}
	var sent struct {
		DeliberationID string `json:"deliberation_id"`
		TaskID         string `json:"task_id"`
		Agents         []deliberation.AgentConfig
		Policy         deliberation.JobPolicy `json:"policy"`
	}
	if err := json.Unmarshal([]byte(j.EnvVars["RAY_EXECUTOR_REQUEST"]), &sent); err != nil || sent.DeliberationID != d.ID ||
		sent.TaskID != req.TaskID || len(sent.Agents) != 2 || !slices.Equal(sent.Policy.AllowedOrigins, testPolicy.AllowedOrigins) ||
		sent.Policy.MaxAnswerBytes != testPolicy.MaxAnswerBytes {
		t.Fatalf("request %+v, %v", sent, err)
	}
	want := map[string]string{"app": "ray-executor", "owner": "rayexec", "deliberation_id": d.ID, "task_id": d.TaskID, "role": "DEV",
		"job_name": d.JobName()}
	if len(j.Metadata) != len(want) {
		t.Fatalf("metadata %v", j.Metadata)
	}
	for k, v := range want {
		if j.Metadata[k] != v {
			t.Fatalf("metadata %v, want %v", j.Metadata, want)
		}
	}
	if j.EntrypointNumCPUs == nil || *j.EntrypointNumCPUs != 0.25 || j.EntrypointResources["vllm_client"] != 1 {
		t.Fatalf("resources %v %v", j.EntrypointNumCPUs, j.EntrypointResources)
	}
	everything, _ := json.Marshal(j)
	for _, secret := range []string{"ray-s3cret", "VLLM_API_KEY", "Bearer"} {
		if strings.Contains(string(everything), secret) {
			t.Fatalf("the job carries %q", secret)
		}
	}
}

// TestSubmitRechecksThePackage: Ray's confirmation of the package holds for PackageRecheck, then
// the next submit asks again and uploads a package Ray collected; an error forgets it at once.
func TestSubmitRechecksThePackage(t *testing.T) {
	t.Parallel()
	const recheck = 300 * time.Millisecond
	s := raytest.Start(t)
	cfg := testConfig(s.URL())
	cfg.PackageRecheck = recheck
	c := newCluster(t, cfg)
	d, req := testDeliberation(t)
	ctx := context.Background()
	attempt := func(n int) deliberation.Deliberation {
		a := d
		a.Attempts, a.SubmissionID = n, deliberation.SubmissionID(d.ID, n)
		return a
	}
	submit := func(d deliberation.Deliberation) {
		t.Helper()
		if err := c.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
		if j, _ := s.Job(d.SubmissionID); j.Status == deliberation.JobFailed {
			t.Fatalf("job %s failed: %s", d.SubmissionID, j.Message)
		}
	}
	counts := func(checks, uploads int) {
		t.Helper()
		if s.Count(raytest.RoutePackageGet) != checks || s.Count(raytest.RoutePackagePut) != uploads {
			t.Fatalf("%d checks, %d uploads; want %d, %d", s.Count(raytest.RoutePackageGet), s.Count(raytest.RoutePackagePut), checks, uploads)
		}
	}
	submit(d)
	if data, ok := s.Package(testPackage); !ok || string(data) != "PK zip" {
		t.Fatalf("package not uploaded: %q", data)
	}
	d2 := attempt(2)
	submit(d2)
	counts(1, 1) // the second submit trusts the fresh confirmation

	time.Sleep(recheck + 50*time.Millisecond)
	s.DeletePackage(testPackage) // Ray's garbage collection, possible only once the pin expired
	d3 := attempt(3)
	submit(d3)
	counts(2, 2)

	// A failed submit forgets the confirmation: the head may have restarted without the package.
	s.Inject(raytest.Fault{Route: raytest.RouteSubmit, Status: http.StatusInternalServerError, Body: "Traceback\nRuntimeError: gcs down"})
	d4 := attempt(4)
	if err := c.Submit(ctx, d4, req); code(err) != deliberation.CodeUnavailable {
		t.Fatalf("submit with Ray failing: %v", err)
	}
	s.ClearFaults()
	s.DeletePackage(testPackage)
	d5 := attempt(5)
	submit(d5)
	counts(3, 3)

	time.Sleep(recheck + 50*time.Millisecond)
	s.Inject(raytest.Fault{Route: raytest.RoutePackagePut, Status: http.StatusInternalServerError, Body: "gcs full"})
	s.DeletePackage(testPackage)
	d6 := attempt(6)
	if err := c.Submit(ctx, d6, req); code(err) != deliberation.CodeUnavailable {
		t.Fatalf("submit without its package: %v", err)
	}
	if _, ok := s.Job(d6.SubmissionID); ok {
		t.Fatal("a job was submitted without its package")
	}
}

func TestSubmitWithABakedEntrypoint(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	cfg := testConfig(s.URL())
	cfg.Entrypoint, cfg.JobPackage, cfg.PackageEntrypoint = "python /app/job.py", nil, ""
	c := newCluster(t, cfg)
	d, req := testDeliberation(t)
	if err := c.Submit(context.Background(), d, req); err != nil {
		t.Fatal(err)
	}
	j, _ := s.Job(d.SubmissionID)
	if j.Entrypoint != "python /app/job.py" || j.WorkingDir != "" || s.Count(raytest.RoutePackageGet) != 0 {
		t.Fatalf("job %+v, %d package checks", j, s.Count(raytest.RoutePackageGet))
	}
}

func TestSubmitTwiceIsOneJob(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	d, req := testDeliberation(t)
	for range 2 {
		if err := c.Submit(context.Background(), d, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Jobs()); n != 1 || s.Count(raytest.RouteSubmit) != 2 {
		t.Fatalf("%d jobs after %d submits", n, s.Count(raytest.RouteSubmit))
	}
}

func TestAmbiguousSubmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   raytest.Fault
		created bool
	}{
		{"answer lost after the job was created", raytest.Fault{Route: raytest.RouteSubmit, Drop: true, AfterHandling: true, Times: 1}, true},
		{"answer late after the job was created", raytest.Fault{Route: raytest.RouteSubmit, Delay: raytest.Forever, AfterHandling: true, Times: 1}, true},
		{"connection lost before", raytest.Fault{Route: raytest.RouteSubmit, Drop: true, Times: 1}, false},
		{"Ray busy", raytest.Fault{Route: raytest.RouteSubmit, Status: http.StatusInternalServerError,
			Body: "No available agent to submit job, please try again later.", Times: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := raytest.Start(t)
			cfg := testConfig(s.URL())
			cfg.Timeout = 200 * time.Millisecond
			c := newCluster(t, cfg)
			d, req := testDeliberation(t)
			s.Inject(tt.fault)
			err := c.Submit(context.Background(), d, req)
			if tt.created && err != nil {
				t.Fatalf("submit: %v", err)
			}
			if !tt.created && code(err) != deliberation.CodeUnavailable {
				t.Fatalf("submit: %v", err)
			}
			if s.Count(raytest.RouteSubmit) != 1 || s.Count(raytest.RouteGet) != 1 {
				t.Fatalf("%d submits, %d gets: want one submit, then a look", s.Count(raytest.RouteSubmit), s.Count(raytest.RouteGet))
			}
		})
	}
}

func TestSubmitRejected(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	d, req := testDeliberation(t)
	s.Inject(raytest.Fault{Route: raytest.RouteSubmit, Status: http.StatusBadRequest, Body: "Traceback\nTypeError: bad runtime_env"})
	err := c.Submit(context.Background(), d, req)
	var re *rayjobs.Error
	if code(err) != deliberation.CodeInternal || !errors.As(err, &re) || re.Detail != "TypeError: bad runtime_env" || s.Count(raytest.RouteGet) != 0 {
		t.Fatalf("submit: %v", err)
	}
	if msg := deliberation.ErrorMessage(err); strings.Contains(msg, "TypeError") {
		t.Fatalf("Ray's words reach callers: %q", msg)
	}
}

func TestPortErrorCodes(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	ctx := context.Background()
	_, statusErr := c.Status(ctx, "delib-missing")
	_, resultErr := c.Result(ctx, "delib-missing")
	for _, err := range []error{statusErr, resultErr, c.Stop(ctx, "delib-missing"), c.Delete(ctx, "delib-missing")} {
		if code(err) != deliberation.CodeNotFound || !errors.Is(err, rayjobs.ErrNotFound) {
			t.Fatalf("want not_found, got %v", err)
		}
	}
	if _, err := c.Status(ctx, "../etc"); code(err) != deliberation.CodeInvalid || strings.Contains(err.Error(), "../etc") {
		t.Fatalf("hostile id: %v", err)
	}
	s.RequireToken("tok")
	if _, err := c.Status(ctx, "delib-missing"); code(err) != deliberation.CodeUnavailable || !strings.Contains(err.Error(), "RAY_AUTH_TOKEN") {
		t.Fatalf("refused credentials: %v", err)
	}
	s.RequireToken("")
	s.Inject(raytest.Fault{Status: http.StatusServiceUnavailable})
	if _, err := c.Status(ctx, "delib-missing"); code(err) != deliberation.CodeUnavailable {
		t.Fatalf("Ray down: %v", err)
	}
}

func TestStatusOfJobs(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	ctx := context.Background()
	s.OnEntrypoint("pending", raytest.Outcome{PendFor: raytest.Forever})
	s.OnEntrypoint("running", raytest.Outcome{})
	s.OnEntrypoint("ok", raytest.Succeeds(0, "done\n"))
	s.OnEntrypoint("exit3", raytest.Fails(0, 3, strings.Repeat("secret prompt\n", 3000)))
	s.OnEntrypoint("infra", raytest.Outcome{Status: deliberation.JobFailed, ErrorType: "JOB_SUPERVISOR_ACTOR_DIED",
		Message: "Job supervisor actor died: node lost\nmore"})
	tests := []struct {
		entrypoint string
		state      deliberation.JobState
		infra      bool
		summary    string
	}{
		{"pending", deliberation.JobPending, false, ""},
		{"running", deliberation.JobRunning, false, ""},
		{"ok", deliberation.JobSucceeded, false, ""},
		{"exit3", deliberation.JobFailed, false, "JOB_ENTRYPOINT_COMMAND_ERROR, exit code 3: Job entrypoint command failed with exit code 3"},
		{"infra", deliberation.JobFailed, true, "JOB_SUPERVISOR_ACTOR_DIED: Job supervisor actor died: node lost"},
	}
	for _, tt := range tests {
		if _, err := c.Client().Submit(ctx, rayjobs.SubmitRequest{Entrypoint: tt.entrypoint, SubmissionID: tt.entrypoint}); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(ctx, tt.entrypoint)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != tt.state || st.Infrastructure != tt.infra || st.Summary != tt.summary || st.StartTime.IsZero() {
			t.Fatalf("%s: %+v", tt.entrypoint, st)
		}
		if tt.state.Terminal() != !st.EndTime.IsZero() {
			t.Fatalf("%s: end time %v", tt.entrypoint, st.EndTime)
		}
	}
	s.UpdateJob("running", func(j *raytest.Job) { j.Status, j.ErrorType = deliberation.JobFailed, "RUNTIME_ENV_SETUP_FAILURE" })
	if st, err := c.Status(ctx, "running"); err != nil || !st.Infrastructure {
		t.Fatalf("runtime env failure: %+v, %v", st, err)
	}
}

func TestResultOfAJob(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	ctx := context.Background()
	line := rayjobs.ResultPrefix + `{"agent_results": [{"agent_id": "a1", "proposal": "p", "reasoning": "r", "score": 0.7}], ` +
		`"total_agents": 2, "completed_agents": 1, "failed_agents": 1, "failures": [{"agent_id": "a2", "error": "503"}], "scoring_error": ""}`
	s.OnEntrypoint("ok", raytest.Succeeds(0, "(agent pid=9) thinking\n"+line+"\n(agent pid=9) "+rayjobs.ResultPrefix+"{}\nwake-up sent\n"))
	s.OnEntrypoint("silent", raytest.Succeeds(0, "nothing to say\n"))
	for _, id := range []string{"ok", "silent"} {
		if _, err := c.Client().Submit(ctx, rayjobs.SubmitRequest{Entrypoint: id, SubmissionID: id}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Result(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if res.BestResult == nil || res.BestResult.AgentID != "a1" || res.AverageScore != 0.7 || res.FailedAgents != 1 {
		t.Fatalf("result %+v", res)
	}
	if _, err := c.Result(ctx, "silent"); code(err) != deliberation.CodeInternal || !strings.Contains(err.Error(), "job silent") {
		t.Fatalf("no result line: %v", err)
	}
	s.Inject(raytest.Fault{Route: raytest.RouteLogs, Status: http.StatusInternalServerError, Body: "agent gone"})
	if _, err := c.Result(ctx, "ok"); code(err) != deliberation.CodeUnavailable {
		t.Fatalf("logs unavailable: %v", err)
	}
}

func TestStopAndDelete(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	ctx := context.Background()
	if _, err := c.Client().Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "forever", SubmissionID: "j1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "j1"); code(err) != deliberation.CodeConflict || !errors.Is(err, rayjobs.ErrNotTerminal) {
		t.Fatalf("delete of a running job: %v", err)
	}
	if s.Count(raytest.RouteDelete) != 0 {
		t.Fatal("a running job was sent a delete")
	}
	for range 2 {
		if err := c.Stop(ctx, "j1"); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if st, _ := c.Status(ctx, "j1"); st.State != deliberation.JobStopped {
		t.Fatalf("stopped job %+v", st)
	}
	// Right after its end Ray still watches the job: deleting it now would leave a ghost record.
	if err := c.Delete(ctx, "j1"); code(err) != deliberation.CodeConflict || s.Count(raytest.RouteDelete) != 0 {
		t.Fatalf("delete of a job that just ended: %v", err)
	}
	s.UpdateJob("j1", func(j *raytest.Job) { j.EndTime -= 5000 })
	if err := c.Delete(ctx, "j1"); err != nil {
		t.Fatalf("delete of a settled job: %v", err)
	}
	if err := c.Delete(ctx, "j1"); code(err) != deliberation.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
	if err := c.Stop(ctx, "j1"); code(err) != deliberation.CodeNotFound {
		t.Fatalf("stop of a deleted job: %v", err)
	}
}

func TestListOurJobs(t *testing.T) {
	t.Parallel()
	s := raytest.Start(t)
	c := newCluster(t, testConfig(s.URL()))
	ctx := context.Background()
	d, req := testDeliberation(t)
	if err := c.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	foreign := []rayjobs.SubmitRequest{
		{Entrypoint: "e", SubmissionID: "other", Metadata: map[string]string{"app": "someone-else"}},
		{Entrypoint: "e", SubmissionID: "forged", Metadata: map[string]string{"app": "ray-executor", "deliberation_id": "../../x"}},
		{Entrypoint: "e", SubmissionID: "plain"},
		{Entrypoint: "e", SubmissionID: "other-registry", Metadata: map[string]string{"app": "ray-executor", "owner": "another",
			"deliberation_id": deliberation.IDFromKey("other-registry")}},
	}
	for _, sr := range foreign {
		if _, err := c.Client().Submit(ctx, sr); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].SubmissionID != d.SubmissionID || jobs[0].DeliberationID != d.ID || jobs[0].Status.State != deliberation.JobRunning {
		t.Fatalf("jobs %+v", jobs)
	}
}

func TestNewClusterReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := rayjobs.NewCluster(rayjobs.Config{
		ClientConfig: rayjobs.ClientConfig{Address: "not a url"},
		NumCPUs:      -1, Resources: map[string]float64{"": 1, "gpu": math.NaN()},
		CallbackURL: "http://user:pw@status/",
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"ray address", "job package", "num_cpus", `resource ""`, `resource "gpu"`, "callback URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q is not reported in: %v", want, err)
		}
	}
	badPackage := testConfig("http://127.0.0.1:1")
	badPackage.JobPackage = func() (string, []byte, error) { return "../x.zip", []byte("z"), nil }
	if _, err := rayjobs.NewCluster(badPackage); err == nil {
		t.Fatal("a package name with a path accepted")
	}
	failing := testConfig("http://127.0.0.1:1")
	failing.JobPackage = func() (string, []byte, error) { return "", nil, errors.New("embed missing") }
	if _, err := rayjobs.NewCluster(failing); err == nil || !strings.Contains(err.Error(), "embed missing") {
		t.Fatalf("package error: %v", err)
	}
}
