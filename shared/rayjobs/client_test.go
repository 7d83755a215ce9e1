package rayjobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"", "127.0.0.1:8265", "ftp://x", "http://user:pw@host:8265", "http://host:8265/?q=1"} {
		if _, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: addr}); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
	if _, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: "http://h:1", AuthToken: "a\nb"}); err == nil {
		t.Error("a token with a newline accepted")
	}
	if _, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: "http://h:1", Timeout: -1}); err == nil {
		t.Error("a negative timeout accepted")
	}
	if _, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: "http://127.0.0.1:8265/"}); err != nil {
		t.Errorf("a trailing slash refused: %v", err)
	}
}

// TestSubmitRequestHasOnlyKnownKeys: the server refuses unknown keys with 400.
func TestSubmitRequestHasOnlyKnownKeys(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(rayjobs.SubmitRequest{Entrypoint: "e", SubmissionID: "s", Metadata: map[string]string{"a": "b"},
		RuntimeEnv:        &rayjobs.RuntimeEnv{WorkingDir: "gcs://p.zip", EnvVars: map[string]string{"A": "B"}},
		EntrypointNumCPUs: 0.5, EntrypointResources: map[string]float64{"r": 1}})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	known := []string{"entrypoint", "submission_id", "runtime_env", "metadata", "entrypoint_num_cpus", "entrypoint_resources"}
	for k := range body {
		if !slices.Contains(known, k) {
			t.Errorf("unknown key %q", k)
		}
	}
	if len(body) != len(known) {
		t.Errorf("keys %v", body)
	}
	minimal, _ := json.Marshal(rayjobs.SubmitRequest{Entrypoint: "e"})
	if string(minimal) != `{"entrypoint":"e"}` {
		t.Errorf("minimal body %s", minimal)
	}
}

func TestGetOfAPendingJob(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	s.SetDefaultOutcome(raytest.Outcome{PendFor: raytest.Forever})
	if _, err := c.Submit(context.Background(), rayjobs.SubmitRequest{Entrypoint: "python x.py", SubmissionID: "p1"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.Get(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != deliberation.JobPending || j.JobID != "" || j.DriverInfo != nil || j.EndTime != 0 || j.DriverExitCode != nil {
		t.Fatalf("pending job %+v", j)
	}
}

func TestSubmitWithoutIDGetsRaysID(t *testing.T) {
	t.Parallel()
	_, c := fakeRay(t)
	id, err := c.Submit(context.Background(), rayjobs.SubmitRequest{Entrypoint: "echo"})
	if err != nil || !strings.HasPrefix(id, "raysubmit_") {
		t.Fatalf("id %q, %v", id, err)
	}
}

func TestIDsAreValidatedBeforeTheURL(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	ctx := context.Background()
	for _, id := range []string{"", "..", ".hidden", "-rf", "a/b", "a?b", "a b", "é", strings.Repeat("a", 256)} {
		_, getErr := c.Get(ctx, id)
		_, logsErr := c.Logs(ctx, id)
		_, stopErr := c.Stop(ctx, id)
		_, deleteErr := c.Delete(ctx, id)
		_, submitErr := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "e", SubmissionID: id + "x/"})
		_, pkgErr := c.PackageExists(ctx, id)
		for _, err := range []error{getErr, logsErr, stopErr, deleteErr, submitErr, pkgErr} {
			if !errors.Is(err, rayjobs.ErrInvalidArgument) {
				t.Fatalf("id %q: %v", id, err)
			}
			if strings.Contains(err.Error(), id) && id != "" {
				t.Fatalf("the error repeats the id: %v", err)
			}
		}
	}
	for _, r := range []raytest.Route{raytest.RouteGet, raytest.RouteLogs, raytest.RouteStop, raytest.RouteDelete, raytest.RouteSubmit, raytest.RoutePackageGet} {
		if n := s.Count(r); n != 0 {
			t.Fatalf("%d requests reached %s", n, r)
		}
	}
	if _, err := c.Submit(ctx, rayjobs.SubmitRequest{}); !errors.Is(err, rayjobs.ErrInvalidArgument) {
		t.Fatalf("empty entrypoint: %v", err)
	}
}

func TestRetriesIdempotentCallsOnly(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	ctx := context.Background()
	if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "echo", SubmissionID: "j1"}); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		route raytest.Route
		call  func() error
	}{
		{raytest.RouteGet, func() error { _, err := c.Get(ctx, "j1"); return err }},
		{raytest.RouteList, func() error { _, err := c.List(ctx); return err }},
		{raytest.RouteLogs, func() error { _, err := c.Logs(ctx, "j1"); return err }},
		{raytest.RouteStop, func() error { _, err := c.Stop(ctx, "j1"); return err }},
		{raytest.RouteVersion, func() error { _, err := c.Version(ctx); return err }},
		{raytest.RoutePackageGet, func() error { _, err := c.PackageExists(ctx, "p.zip"); return err }},
		{raytest.RoutePackagePut, func() error { return c.UploadPackage(ctx, "p.zip", []byte("zip")) }},
	}
	for _, tt := range calls {
		s.ResetCounts()
		s.Inject(raytest.Fault{Route: tt.route, Status: http.StatusServiceUnavailable, Body: "busy", Times: 2})
		if err := tt.call(); err != nil {
			t.Fatalf("%s after two 503s: %v", tt.route, err)
		}
		if n := s.Count(tt.route); n != 3 {
			t.Fatalf("%s: %d requests, want 3", tt.route, n)
		}
	}
	// A dropped connection is retried too.
	s.ResetCounts()
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Drop: true, Times: 1})
	if _, err := c.Get(ctx, "j1"); err != nil || s.Count(raytest.RouteGet) != 2 {
		t.Fatalf("get after a dropped connection: %v, %d requests", err, s.Count(raytest.RouteGet))
	}
	// A submit is tried once.
	s.ResetCounts()
	s.Inject(raytest.Fault{Route: raytest.RouteSubmit, Status: http.StatusServiceUnavailable, Body: "busy", Times: 1})
	_, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "echo", SubmissionID: "j2"})
	if !errors.Is(err, rayjobs.ErrUnavailable) || s.Count(raytest.RouteSubmit) != 1 {
		t.Fatalf("submit after a 503: %v, %d requests", err, s.Count(raytest.RouteSubmit))
	}
	// Answers that are not Ray's unavailability are not retried.
	s.ResetCounts()
	if _, err := c.Get(ctx, "missing"); !errors.Is(err, rayjobs.ErrNotFound) || s.Count(raytest.RouteGet) != 1 {
		t.Fatalf("get of a missing job: %v, %d requests", err, s.Count(raytest.RouteGet))
	}
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Status: http.StatusBadRequest, Body: "Can only get submission type jobs", Times: 1})
	if _, err := c.Get(ctx, "j1"); !errors.Is(err, rayjobs.ErrRejected) || s.Count(raytest.RouteGet) != 2 {
		t.Fatalf("get refused with 400: %v, %d requests", err, s.Count(raytest.RouteGet))
	}
}

func TestRetriesGiveUp(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.MaxAttempts = 2 })
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"})
	_, err := c.Get(context.Background(), "j1")
	var re *rayjobs.Error
	if !errors.Is(err, rayjobs.ErrUnavailable) || !errors.As(err, &re) || re.Status != http.StatusBadGateway || s.Count(raytest.RouteGet) != 2 {
		t.Fatalf("%v after %d requests", err, s.Count(raytest.RouteGet))
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.Timeout, cfg.MaxAttempts = 50*time.Millisecond, 1 })
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Delay: raytest.Forever})
	start := time.Now()
	_, err := c.Get(context.Background(), "j1")
	if !errors.Is(err, rayjobs.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("stalled get: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("the timeout took %v", elapsed)
	}
}

func TestCallerContextBoundsRetries(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.MaxAttempts = 100 })
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Status: http.StatusServiceUnavailable})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "j1")
	if !errors.Is(err, rayjobs.ErrUnavailable) {
		t.Fatalf("get: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("retries outlived the caller's context: %v", elapsed)
	}
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) {
		// The timeout leaves room for a loaded CI machine's probe; fail-fast is judged against it.
		cfg.Timeout, cfg.MaxAttempts, cfg.BreakerFailures, cfg.BreakerOpenFor = 400*time.Millisecond, 1, 3, 500*time.Millisecond
	})
	ctx := context.Background()
	s.Inject(raytest.Fault{Delay: raytest.Forever}) // Ray hangs: every call would wait for its timeout
	for i := range 3 {
		if _, err := c.Get(ctx, "j1"); !errors.Is(err, rayjobs.ErrUnavailable) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if st := c.BreakerState(); st != "open" {
		t.Fatalf("breaker %s after 3 timeouts", st)
	}
	reached := s.Count(raytest.RouteGet)
	for i := range 20 {
		start := time.Now()
		_, err := c.Get(ctx, "j1")
		if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
			t.Fatalf("call %d took %v with the breaker open (a timeout is 400 ms)", i, elapsed)
		}
		if !errors.Is(err, rayjobs.ErrUnavailable) || !strings.Contains(err.Error(), "circuit breaker open") {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "e", SubmissionID: "j2"}); !errors.Is(err, rayjobs.ErrUnavailable) {
		t.Fatalf("submit with the breaker open: %v", err)
	}
	if n := s.Count(raytest.RouteGet) + s.Count(raytest.RouteSubmit); n != reached {
		t.Fatalf("%d requests reached Ray through an open breaker", n-reached)
	}
	s.ClearFaults()
	time.Sleep(600 * time.Millisecond)
	if st := c.BreakerState(); st != "half-open" {
		t.Fatalf("breaker %s after its open period", st)
	}
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if st := c.BreakerState(); st != "closed" {
		t.Fatalf("breaker %s after a good probe", st)
	}
}

func TestBreakerCountsOnlyRaysUnavailability(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.BreakerFailures = 2 })
	s.RequireToken("tok")
	ctx := context.Background()
	for range 5 {
		_, _ = c.Get(ctx, "missing") // 401: Ray answered
	}
	s.RequireToken("")
	for range 5 {
		_, _ = c.Get(ctx, "missing") // 404: Ray answered
		_, _ = c.Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "e", SubmissionID: "same"})
	}
	// The caller giving up says nothing about Ray.
	s.Inject(raytest.Fault{Delay: raytest.Forever})
	for range 5 {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(10*time.Millisecond, cancel)
		if _, err := c.Get(cctx, "j1"); !errors.Is(err, rayjobs.ErrUnavailable) {
			t.Fatalf("cancelled get: %v", err)
		}
	}
	if st := c.BreakerState(); st != "closed" {
		t.Fatalf("breaker %s after healthy answers and cancelled calls", st)
	}
}

func TestAuthToken(t *testing.T) {
	t.Parallel()
	s, anonymous := fakeRay(t)
	s.RequireToken("s3cret-token")
	ctx := context.Background()
	_, err := anonymous.Version(ctx)
	var re *rayjobs.Error
	if !errors.Is(err, rayjobs.ErrUnauthorized) || !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: %v", err)
	}
	wrong := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.AuthToken = "other-token" })
	if _, err := wrong.Version(ctx); !errors.Is(err, rayjobs.ErrUnauthorized) || strings.Contains(err.Error(), "other-token") {
		t.Fatalf("with a wrong token: %v", err)
	}
	good := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.AuthToken = "s3cret-token" })
	if _, err := good.Version(ctx); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

func TestErrorBodiesAreCut(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	secret := strings.Repeat("prompt text ", 5000)
	s.Inject(raytest.Fault{Route: raytest.RouteGet, Status: http.StatusBadRequest,
		Body: "Traceback (most recent call last):\n  File \"x\"\n" + secret + "\nValueError: bad id\n"})
	_, err := c.Get(context.Background(), "j1")
	if !errors.Is(err, rayjobs.ErrRejected) || strings.Contains(err.Error(), "prompt text") || !strings.HasSuffix(err.Error(), "ValueError: bad id") {
		t.Fatalf("error %q", err)
	}
}

func TestLogsKeepTheirEnd(t *testing.T) {
	t.Parallel()
	s, _ := fakeRay(t)
	c := newClient(t, s.URL(), func(cfg *rayjobs.ClientConfig) { cfg.MaxLogBytes = 4096 })
	logs := strings.Repeat("(worker pid=1) \"noise\" é\n", 2000) + rayjobs.ResultPrefix + `{"total_agents": 0}` + "\nbye\n"
	s.SetDefaultOutcome(raytest.Succeeds(0, logs))
	if _, err := c.Submit(context.Background(), rayjobs.SubmitRequest{Entrypoint: "e", SubmissionID: "big"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Logs(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 4096 || !strings.HasSuffix(got, rayjobs.ResultPrefix+`{"total_agents": 0}`+"\nbye\n") || !strings.HasPrefix(got, "(worker pid=1)") {
		t.Fatalf("logs tail of %d bytes: %.80q...", len(got), got)
	}
	small := newClient(t, s.URL(), nil)
	whole, err := small.Logs(context.Background(), "big")
	if err != nil || !strings.HasSuffix(whole, logs) {
		t.Fatalf("whole logs: %v", err)
	}
}

func TestPackages(t *testing.T) {
	t.Parallel()
	s, c := fakeRay(t)
	ctx := context.Background()
	if ok, err := c.PackageExists(ctx, "_ray_pkg_abc.zip"); err != nil || ok {
		t.Fatalf("before upload: %v, %v", ok, err)
	}
	if err := c.UploadPackage(ctx, "_ray_pkg_abc.zip", []byte("PK\x03\x04zip")); err != nil {
		t.Fatal(err)
	}
	if data, ok := s.Package("_ray_pkg_abc.zip"); !ok || string(data) != "PK\x03\x04zip" {
		t.Fatalf("stored %q", data)
	}
	if ok, err := c.PackageExists(ctx, "_ray_pkg_abc.zip"); err != nil || !ok {
		t.Fatalf("after upload: %v, %v", ok, err)
	}
	s.Inject(raytest.Fault{Route: raytest.RoutePackageGet, Status: http.StatusInternalServerError, Body: "Traceback\nRuntimeError: gcs down"})
	if _, err := c.PackageExists(ctx, "_ray_pkg_abc.zip"); !errors.Is(err, rayjobs.ErrUnavailable) {
		t.Fatalf("check while the GCS fails: %v", err)
	}
}

func TestUnreadableAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>not the dashboard</html>"))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	if _, err := c.Get(context.Background(), "j1"); !errors.Is(err, rayjobs.ErrProtocol) {
		t.Fatalf("get: %v", err)
	}
	if st := c.BreakerState(); st != "closed" {
		t.Fatalf("breaker %s", st)
	}
}

func TestListSkipsOddEntries(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/jobs/" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`[{"type": "SUBMISSION", "submission_id": "a", "status": "RUNNING", "entrypoint": "e"},
			{"type": "DRIVER", "job_id": "02000000", "submission_id": null, "status": "SUCCEEDED", "entrypoint": "",
			 "driver_info": {"id": "02000000", "node_ip_address": "10.0.0.1", "pid": "77"}},
			{"type": "SUBMISSION", "submission_id": "odd", "status": "FAILED", "metadata": {"n": 1}}]`))
	}))
	t.Cleanup(srv.Close)
	jobs, err := newClient(t, srv.URL, nil).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].SubmissionID != "a" || jobs[1].Type != "DRIVER" || jobs[1].DriverInfo.PID != "77" {
		t.Fatalf("jobs %+v", jobs)
	}
}
