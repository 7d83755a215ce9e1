package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
)

// The RPC adapter in process, over the Connect protocol and gRPC-Web (HTTP/1.1). gRPC itself
// over h2c is driven against the built binaries in functions/internal/functest.

func validRPCRequest() *executorv1.ExecuteDeliberationRequest {
	return &executorv1.ExecuteDeliberationRequest{
		TaskId: "task-1", TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: &executorv1.TaskConstraints{StoryId: "story-1", Metadata: map[string]string{"k": "v"}},
		Agents:      []*executorv1.Agent{{Id: "a1", Role: "DEV", Model: "m1"}, {Id: "a2", Role: "QA", Model: "m2"}},
		VllmUrl:     "http://127.0.0.1:8000", VllmModel: "judge",
	}
}

func (h *harness) rpc(opts ...connect.ClientOption) executorv1connect.RayExecutorServiceClient {
	return executorv1connect.NewRayExecutorServiceClient(http.DefaultClient, h.srv.URL, opts...)
}

// rpcCode returns the status code of an RPC error, failing the test on a nil or foreign error.
func rpcCode(t *testing.T, err error) connect.Code {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want an RPC error, got %T %v", err, err)
	}
	return ce.Code()
}

func details[T any](t *testing.T, err error) []*T {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want an RPC error, got %v", err)
	}
	var out []*T
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			t.Fatal(derr)
		}
		if m, ok := any(v).(*T); ok {
			out = append(out, m)
		}
	}
	return out
}

// submissions returns the requests the harness's Ray receives, in order.
func (h *harness) submissions() <-chan deliberation.Request {
	submitted := make(chan deliberation.Request, 8)
	h.ray.SubmitFn = func(_ context.Context, _ deliberation.Deliberation, req deliberation.Request) error {
		submitted <- req
		return nil
	}
	return submitted
}

func withAuth(req connect.AnyRequest, token string) {
	req.Header().Set("Authorization", "Bearer "+token)
}

func TestRPCUseCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, transport.FunctionCombined)
	for name, client := range map[string]executorv1connect.RayExecutorServiceClient{
		"connect": h.rpc(), "grpc-web": h.rpc(connect.WithGRPCWeb()),
	} {
		t.Run(name, func(t *testing.T) {
			sub, err := client.ExecuteDeliberation(ctx, connect.NewRequest(validRPCRequest()))
			if err != nil {
				t.Fatal(err)
			}
			if sub.Msg.Status != "submitted" || sub.Msg.TaskId != "task-1" || !strings.HasPrefix(sub.Msg.DeliberationId, "delib-") {
				t.Fatalf("execute: %v", sub.Msg)
			}
			st, err := client.GetDeliberationStatus(ctx, connect.NewRequest(&executorv1.GetDeliberationStatusRequest{DeliberationId: sub.Msg.DeliberationId}))
			if err != nil || st.Msg.Status != "submitted" || st.Msg.Result != nil {
				t.Fatalf("status: %v %v", st, err)
			}
			stats, err := client.GetStatus(ctx, connect.NewRequest(&executorv1.GetStatusRequest{IncludeStats: true}))
			if err != nil {
				t.Fatal(err)
			}
			s := stats.Msg.Stats
			if stats.Msg.Status != "healthy" || s == nil || s.TotalDeliberations < 1 ||
				s.TotalDeliberations != s.ActiveDeliberations+s.CompletedDeliberations+s.FailedDeliberations+s.CancelledDeliberations {
				t.Fatalf("stats: %v", stats.Msg)
			}
			bare, err := client.GetStatus(ctx, connect.NewRequest(&executorv1.GetStatusRequest{}))
			if err != nil || bare.Msg.Stats != nil || bare.Msg.Status != "healthy" {
				t.Fatalf("status without stats: %v %v", bare, err)
			}
			jobs, err := client.GetActiveJobs(ctx, connect.NewRequest(&executorv1.GetActiveJobsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			found := slices.ContainsFunc(jobs.Msg.Jobs, func(j *executorv1.JobInfo) bool {
				return j.TaskId == "task-1" && j.Status == "PENDING" && j.StartTime.AsTime().After(time.Now().Add(-time.Hour)) && j.EndTime == nil
			})
			if !found {
				t.Fatalf("active jobs lack the deliberation: %v", jobs.Msg.Jobs)
			}
		})
	}
}

func TestRPCBacklogReviewHasNoPlan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	submitted := h.submissions()
	req := validRPCRequest()
	_, err := h.rpc().ExecuteBacklogReviewDeliberation(context.Background(), connect.NewRequest(&executorv1.ExecuteBacklogReviewDeliberationRequest{
		TaskId: req.TaskId, TaskDescription: req.TaskDescription, Role: req.Role, Agents: req.Agents,
		Constraints: &executorv1.BacklogReviewTaskConstraints{StoryId: "story-1", TimeoutSeconds: 60, MaxRetries: 2},
		VllmUrl:     req.VllmUrl, VllmModel: req.VllmModel,
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := <-submitted
	want := deliberation.TaskConstraints{StoryID: "story-1", TimeoutSeconds: 60, MaxRetries: 2}
	if got.Constraints.StoryID != want.StoryID || got.Constraints.TimeoutSeconds != 60 || got.Constraints.MaxRetries != 2 || got.Constraints.PlanID != "" {
		t.Errorf("constraints reached Ray as %+v, want %+v", got.Constraints, want)
	}
	if len(got.Agents) != 2 || got.Agents[1].AgentID != "a2" {
		t.Errorf("agents reached Ray as %+v", got.Agents)
	}
}

// TestRPCZeroValues: proto3 cannot tell an absent field from a zero; a zero timeout is the
// default and a zero max_retries is no retry, as the replaced service read them.
func TestRPCZeroValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	submitted := h.submissions()
	req := validRPCRequest()
	req.Constraints.PlanId = "plan-7"
	if _, err := h.rpc().ExecuteDeliberation(context.Background(), connect.NewRequest(req)); err != nil {
		t.Fatal(err)
	}
	got := (<-submitted).Constraints
	if got.TimeoutSeconds != deliberation.DefaultTimeoutSeconds || got.MaxRetries != 0 || got.PlanID != "plan-7" || got.Metadata["k"] != "v" {
		t.Errorf("constraints reached Ray as %+v", got)
	}
}

// TestRPCFieldViolations: every field problem is a BadRequest violation, under the contract's names.
func TestRPCFieldViolations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	req := validRPCRequest()
	req.TaskId, req.Agents[1].Id, req.Constraints.TimeoutSeconds, req.VllmUrl = "", "", -5, "ftp://x"
	_, err := h.rpc().ExecuteDeliberation(context.Background(), connect.NewRequest(req))
	if rpcCode(t, err) != connect.CodeInvalidArgument {
		t.Fatalf("got %v", err)
	}
	var fields []string
	for _, br := range details[errdetails.BadRequest](t, err) {
		for _, v := range br.FieldViolations {
			fields = append(fields, v.Field)
			if v.Description == "" || strings.Contains(v.Description, "agent_id") {
				t.Errorf("violation of %s described as %q: the contract's field is id", v.Field, v.Description)
			}
		}
	}
	for _, want := range []string{"task_id", "agents[1].id", "constraints.timeout_seconds", "vllm_url"} {
		if !slices.Contains(fields, want) {
			t.Errorf("violations lack %s: %v", want, fields)
		}
	}
	if n := len(h.ray.Calls("Submit")); n != 0 {
		t.Errorf("an invalid request reached Ray %d times", n)
	}
}

func TestRPCIdempotencyKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, transport.FunctionExecute)
	send := func(m *executorv1.ExecuteDeliberationRequest) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
		req := connect.NewRequest(m)
		req.Header().Set("idempotency-key", "key-1")
		return h.rpc(connect.WithGRPCWeb()).ExecuteDeliberation(ctx, req)
	}
	first, err := send(validRPCRequest())
	if err != nil {
		t.Fatal(err)
	}
	again, err := send(validRPCRequest())
	if err != nil || again.Msg.DeliberationId != first.Msg.DeliberationId {
		t.Fatalf("replay: %v %v", again, err)
	}
	bad := connect.NewRequest(validRPCRequest())
	bad.Header().Set("idempotency-key", "")
	_, err = h.rpc().ExecuteDeliberation(ctx, bad)
	if v := details[errdetails.BadRequest](t, err); len(v) != 1 || v[0].FieldViolations[0].Field != "idempotency-key" {
		t.Errorf("an empty idempotency key: %v %v", err, v)
	}
	other := validRPCRequest()
	other.TaskDescription = "Something else"
	if _, err := send(other); rpcCode(t, err) != connect.CodeAlreadyExists {
		t.Errorf("a reused key with another request: %v", err)
	}
	if n := len(h.ray.Calls("Submit")); n != 1 {
		t.Errorf("Ray got %d submissions, want 1", n)
	}
}

// TestRPCErrorTable checks every application code against its RPC status and retry hint.
func TestRPCErrorTable(t *testing.T) {
	t.Parallel()
	secret := errors.New("dial tcp 10.1.2.3:6379: password=hunter2")
	cases := []struct {
		err   error
		code  connect.Code
		retry bool
	}{
		{deliberation.Errorf(deliberation.CodeNotFound, "gone"), connect.CodeNotFound, false},
		{deliberation.Errorf(deliberation.CodeConflict, "reused"), connect.CodeAlreadyExists, false},
		{deliberation.Errorf(deliberation.CodeTooMany, "100 deliberations are active"), connect.CodeResourceExhausted, true},
		{deliberation.Unavailable(secret, "state store unavailable"), connect.CodeUnavailable, true},
		{secret, connect.CodeInternal, false},
	}
	for _, tc := range cases {
		h := newHarness(t, transport.FunctionCombined, withUseCases(failing{tc.err}))
		for _, client := range []executorv1connect.RayExecutorServiceClient{h.rpc(), h.rpc(connect.WithGRPCWeb())} {
			_, err := client.ExecuteDeliberation(context.Background(), connect.NewRequest(validRPCRequest()))
			if got := rpcCode(t, err); got != tc.code {
				t.Errorf("%v: code %v, want %v", tc.err, got, tc.code)
			}
			if hints := details[errdetails.RetryInfo](t, err); (len(hints) == 1 && hints[0].RetryDelay.AsDuration() > 0) != tc.retry {
				t.Errorf("%v: retry hints %v", tc.err, hints)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "10.1.2.3") {
				t.Errorf("the answer leaks the cause: %v", err)
			}
		}
	}
}

func TestRPCNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	_, err := h.rpc().GetDeliberationStatus(context.Background(), connect.NewRequest(&executorv1.GetDeliberationStatusRequest{DeliberationId: "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"}))
	if rpcCode(t, err) != connect.CodeNotFound {
		t.Errorf("unknown id: %v", err)
	}
	_, err = h.rpc().GetDeliberationStatus(context.Background(), connect.NewRequest(&executorv1.GetDeliberationStatusRequest{DeliberationId: "../etc"}))
	if rpcCode(t, err) != connect.CodeInvalidArgument {
		t.Errorf("hostile id: %v", err)
	}
}

// TestRPCEachFunctionServesItsOwn: a procedure of another function is UNIMPLEMENTED, naming it.
func TestRPCEachFunctionServesItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, transport.FunctionStats)
	if _, err := h.rpc().GetStatus(ctx, connect.NewRequest(&executorv1.GetStatusRequest{})); err != nil {
		t.Fatalf("stats serves GetStatus: %v", err)
	}
	_, err := h.rpc().ExecuteDeliberation(ctx, connect.NewRequest(validRPCRequest()))
	if rpcCode(t, err) != connect.CodeUnimplemented || !strings.Contains(err.Error(), "get-stats") {
		t.Errorf("execute on the stats function: %v", err)
	}
	if n := len(h.ray.Calls("Submit")); n != 0 {
		t.Errorf("Ray got %d submissions", n)
	}
}

func TestRPCNeedsToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, transport.FunctionCombined, withToken("s3cret"))
	for _, client := range []executorv1connect.RayExecutorServiceClient{h.rpc(), h.rpc(connect.WithGRPCWeb())} {
		_, err := client.GetStatus(ctx, connect.NewRequest(&executorv1.GetStatusRequest{}))
		if rpcCode(t, err) != connect.CodeUnauthenticated {
			t.Errorf("no token: %v", err)
		}
		wrong := connect.NewRequest(&executorv1.GetStatusRequest{})
		withAuth(wrong, "nope")
		if _, err := client.GetStatus(ctx, wrong); rpcCode(t, err) != connect.CodeUnauthenticated {
			t.Errorf("wrong token: %v", err)
		}
		right := connect.NewRequest(&executorv1.GetStatusRequest{})
		withAuth(right, "s3cret")
		if _, err := client.GetStatus(ctx, right); err != nil {
			t.Errorf("right token: %v", err)
		}
	}
	// The JSON routes keep their problem+json 401.
	h.call(http.MethodGet, "/stats", "").problem(t, http.StatusUnauthorized)
	h.call(http.MethodPost, "/deliberations", validRequest).problem(t, http.StatusUnauthorized)
}

func TestRPCMetricsAndLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, transport.FunctionCombined)
	if _, err := h.rpc().GetStatus(ctx, connect.NewRequest(&executorv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	_, err := h.rpc(connect.WithGRPCWeb()).GetDeliberationStatus(ctx, connect.NewRequest(&executorv1.GetDeliberationStatusRequest{DeliberationId: "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"}))
	if rpcCode(t, err) != connect.CodeNotFound {
		t.Fatal(err)
	}
	got := string(h.call(http.MethodGet, "/metrics", "").body)
	for _, want := range []string{
		`rayexec_http_requests_total{code="200",route="stats",transport="connect"} 1`,
		`rayexec_http_requests_total{code="404",route="status",transport="grpc-web"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if logs := h.logs.String(); !strings.Contains(logs, `"rpc_code":"not_found"`) || !strings.Contains(logs, `"rpc_code":"ok"`) || !strings.Contains(logs, `"transport":"grpc-web"`) {
		t.Errorf("the request log lacks the RPC outcome:\n%s", logs)
	}
}

// TestRPCMessageLimit: MAX_BODY_BYTES bounds an RPC message as it bounds a JSON body.
func TestRPCMessageLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	req := validRPCRequest()
	req.TaskDescription = strings.Repeat("x", 70<<10)
	for _, client := range []executorv1connect.RayExecutorServiceClient{h.rpc(), h.rpc(connect.WithGRPCWeb())} {
		if _, err := client.ExecuteDeliberation(context.Background(), connect.NewRequest(req)); rpcCode(t, err) != connect.CodeResourceExhausted {
			t.Errorf("a message over the limit: %v", err)
		}
	}
	if n := len(h.ray.Calls("Submit")); n != 0 {
		t.Errorf("Ray got %d submissions", n)
	}
}

// TestRPCSmallAnswersUncompressed: a client that accepts gzip gets a small answer as it is, which
// costs the function less CPU than compressing a few bytes.
func TestRPCSmallAnswersUncompressed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStats)
	got := h.call(http.MethodPost, executorv1connect.RayExecutorServiceGetStatusProcedure, `{"include_stats":true}`,
		"Accept-Encoding", "gzip", "Connect-Accept-Encoding", "gzip")
	if got.status != http.StatusOK || got.header.Get("Content-Encoding") != "" || got.json(t)["status"] != "healthy" {
		t.Errorf("small answer: %d %v %s", got.status, got.header, got.body)
	}
}
