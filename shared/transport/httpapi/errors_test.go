package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// failing answers every use case with one error.
type failing struct{ err error }

func (f failing) Execute(context.Context, app.ExecuteCommand) (app.Submission, error) {
	return app.Submission{}, f.err
}
func (f failing) Status(context.Context, string) (app.StatusReport, error) {
	return app.StatusReport{}, f.err
}
func (f failing) Cancel(context.Context, string, string) (app.CancelResult, error) {
	return app.CancelResult{}, f.err
}
func (f failing) Stats(context.Context) (app.StatsReport, error) { return app.StatsReport{}, f.err }
func (f failing) ActiveJobs(context.Context, int, string) (app.JobsPage, error) {
	return app.JobsPage{}, f.err
}

// TestErrorTable checks every application code against docs/api.md, on both transports.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	secret := errors.New("dial tcp 10.1.2.3:6379: password=hunter2")
	cases := []struct {
		err        error
		status     int
		retryAfter bool
	}{
		{&deliberation.Error{Code: deliberation.CodeInvalid, Message: "bad", Fields: []deliberation.FieldError{{Field: "a", Message: "b"}}}, 400, false},
		{deliberation.Errorf(deliberation.CodeUnauthorized, "no"), 401, false},
		{deliberation.Errorf(deliberation.CodeNotFound, "gone"), 404, false},
		{deliberation.Errorf(deliberation.CodeConflict, "idempotency key reused with another request"), 422, false},
		{deliberation.Errorf(deliberation.CodeTooMany, "100 deliberations are active"), 429, true},
		{deliberation.Unavailable(secret, "state store unavailable"), 503, true},
		{secret, 500, false},
		{&deliberation.Error{Code: deliberation.CodeInternal, Message: "x", Cause: secret}, 500, false},
	}
	for _, tc := range cases {
		h := newHarness(t, transport.FunctionExecute, withUseCases(failing{tc.err}))
		for _, req := range []*http.Request{
			h.request(http.MethodPost, "/", validRequest),
			h.binary("/", transport.TypeExecuteRequested, "e", validRequest),
		} {
			got := h.do(req)
			got.problem(t, tc.status)
			if (got.header.Get("Retry-After") != "") != tc.retryAfter {
				t.Errorf("%v: Retry-After %q", tc.err, got.header.Get("Retry-After"))
			}
			if strings.Contains(string(got.body), "hunter2") || strings.Contains(string(got.body), "10.1.2.3") {
				t.Errorf("%d answer leaks the cause: %s", tc.status, got.body)
			}
		}
		if tc.status == 500 && !strings.Contains(h.logs.String(), "hunter2") {
			t.Errorf("the cause of an internal error must be logged")
		}
	}
}

func TestStatsUnhealthy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStats)
	h.store.SetErr(unavailableErr)
	got := h.call(http.MethodGet, "/", "")
	if got.status != http.StatusServiceUnavailable || got.json(t)["status"] != "unhealthy" || got.header.Get("Retry-After") == "" {
		t.Errorf("stats with Redis down: %d %s %v", got.status, got.body, got.header)
	}
	h.do(h.binary("/", transport.TypeStatsRequested, "s", `{}`)).problem(t, http.StatusServiceUnavailable)
}

func TestRedisDownIs503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	h.store.SetErr(unavailableErr)
	for _, req := range []*http.Request{
		h.request(http.MethodPost, "/deliberations", validRequest),
		h.request(http.MethodGet, "/deliberations/delib-aaaaaaaaaaaaaaaaaaaaaaaaaa", ""),
		h.request(http.MethodGet, "/jobs", ""),
		h.binary("/", transport.TypeStatusRequested, "e", `{"deliberation_id":"delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"}`),
		h.binary("/", transport.TypeExecuteRequested, "e", validRequest),
	} {
		h.do(req).problem(t, http.StatusServiceUnavailable)
	}
}

func TestTooManyActive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	h.svc.Settings.MaxActive = 1
	if got := h.call(http.MethodPost, "/", validRequest); got.status != http.StatusAccepted {
		t.Fatalf("first: %d", got.status)
	}
	got := h.call(http.MethodPost, "/", validRequest)
	got.problem(t, http.StatusTooManyRequests)
	if got.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	huge := `{"task_id":"` + strings.Repeat("x", 70<<10) + `"}`
	h.call(http.MethodPost, "/deliberations", huge).problem(t, http.StatusRequestEntityTooLarge)
	h.do(h.binary("/", transport.TypeExecuteRequested, "e", huge)).problem(t, http.StatusRequestEntityTooLarge)
	h.call(http.MethodPost, "/deliberations", validRequest, "Content-Type", "text/plain").problem(t, http.StatusUnsupportedMediaType)
	h.call(http.MethodPost, "/deliberations", validRequest, "Content-Type", "").problem(t, http.StatusUnsupportedMediaType)
	h.call(http.MethodGet, "/stats", "", "X-Padding", strings.Repeat("p", 70<<10)).problem(t, http.StatusRequestHeaderFieldsTooLarge)
	if got := h.call(http.MethodPost, "/deliberations", validRequest, "Content-Type", "application/json; charset=utf-8"); got.status != http.StatusAccepted {
		t.Errorf("JSON with charset: %d %s", got.status, got.body)
	}
}
