package functest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// invoke calls procedure on conn with grpc-go's generic Invoke, metadata md in name, value pairs.
func invoke(ctx context.Context, conn *grpc.ClientConn, procedure string, req, res proto.Message, md ...string) error {
	if len(md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, md...)
	}
	return conn.Invoke(ctx, procedure, req, res)
}

// fieldViolations are the fields a BadRequest detail of err names, field -> description.
func fieldViolations(t *testing.T, err error) map[string]string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("%v, want INVALID_ARGUMENT", err)
	}
	fields := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields[v.GetField()] = v.GetDescription()
			}
		}
	}
	return fields
}

// retryDelay is the RetryInfo detail of err, or 0 without one.
func retryDelay(err error) time.Duration {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestGRPCErrors: the error answers of the combined binary over native gRPC, read as a grpc-go
// caller reads them (status.FromError(err).Details()): every field problem, the token, the
// idempotency key, the active limit, the runners' queue lag and a Redis outage, each with its
// status code and details.
func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	const token = "grpc-token-7"
	auth := []string{"authorization", "Bearer " + token}

	t.Run("token and requests", func(t *testing.T) {
		t.Parallel()
		stack := NewStack(t)
		conn := dial(t, rpcProcess(t, stack, combined, map[string]string{"API_TOKEN": token, "LOG_LEVEL": "info"}))
		ctx := t.Context()

		t.Run("every field problem", func(t *testing.T) {
			req := executeRequest("task-x")
			req.TaskId = ""
			req.Agents = []*executorv1.Agent{{Id: "", Role: "DEV", Model: "m1"}, {Id: "a2", Role: "", Model: "m2"}}
			req.Constraints.MaxRetries = 11
			req.Constraints.TimeoutSeconds = -1
			req.VllmModel = ""
			err := invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, req, &executorv1.ExecuteDeliberationResponse{}, auth...)
			got := fieldViolations(t, err)
			want := []string{"task_id", "agents[0].id", "agents[1].role", "constraints.max_retries", "constraints.timeout_seconds", "vllm_model"}
			if len(got) != len(want) {
				t.Errorf("violations %v, want exactly %v", got, want)
			}
			for _, f := range want {
				if got[f] == "" {
					t.Errorf("violations %v lack %s (with a description)", got, f)
				}
			}

			backlog := backlogRequest("")
			backlog.Agents[0].Id = ""
			got = fieldViolations(t, invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure, backlog, &executorv1.ExecuteDeliberationResponse{}, auth...))
			if len(got) != 2 || got["task_id"] == "" || got["agents[0].id"] == "" {
				t.Errorf("backlog violations %v, want task_id and agents[0].id", got)
			}

			got = fieldViolations(t, invoke(ctx, conn, executorv1connect.RayExecutorServiceGetActiveJobsProcedure, &executorv1.GetActiveJobsRequest{PageSize: 1001}, &executorv1.GetActiveJobsResponse{}, auth...))
			if len(got) != 1 || got["page_size"] == "" {
				t.Errorf("page_size 1001: violations %v", got)
			}
			got = fieldViolations(t, invoke(ctx, conn, executorv1connect.RayExecutorServiceGetActiveJobsProcedure, &executorv1.GetActiveJobsRequest{PageToken: "../../x"}, &executorv1.GetActiveJobsResponse{}, auth...))
			if len(got) != 1 || got["page_token"] == "" {
				t.Errorf("page_token ../../x: violations %v", got)
			}
			got = fieldViolations(t, invoke(ctx, conn, executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure, &executorv1.GetDeliberationStatusRequest{DeliberationId: "x"}, &executorv1.GetDeliberationStatusResponse{}, auth...))
			if len(got) != 1 || got["deliberation_id"] == "" {
				t.Errorf("deliberation_id x: violations %v", got)
			}
			if n := len(stack.Ray.Jobs()); n != 0 {
				t.Errorf("invalid requests made %d Ray jobs", n)
			}
		})

		t.Run("token", func(t *testing.T) {
			for name, md := range map[string][]string{"no token": nil, "wrong token": {"authorization", "Bearer wrong"},
				"not a bearer": {"authorization", token}} {
				err := invoke(ctx, conn, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{IncludeStats: true}, &executorv1.GetStatusResponse{}, md...)
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("GetStatus, %s: %v, want UNAUTHENTICATED", name, err)
				}
				err = invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executeRequest("task-anon"), &executorv1.ExecuteDeliberationResponse{}, md...)
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("ExecuteDeliberation, %s: %v, want UNAUTHENTICATED", name, err)
				}
				stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(metadata.AppendToOutgoingContext(ctx, md...))
				if err == nil {
					_ = stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
					_, err = stream.Recv()
				}
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("reflection, %s: %v, want UNAUTHENTICATED", name, err)
				}
			}
			if n := len(stack.Ray.Jobs()); n != 0 {
				t.Errorf("refused requests made %d Ray jobs", n)
			}
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health without a token: %v, %v; want SERVING", res, err)
			}
			stats := &executorv1.GetStatusResponse{}
			if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{IncludeStats: true}, stats, auth...); err != nil || stats.Status != "healthy" {
				t.Errorf("GetStatus with the token: %v, %v", stats, err)
			}
		})

		t.Run("idempotency-key", func(t *testing.T) {
			total := func() int64 {
				t.Helper()
				res := &executorv1.GetStatusResponse{}
				if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{IncludeStats: true}, res, auth...); err != nil {
					t.Fatal(err)
				}
				return res.Stats.GetTotalDeliberations()
			}
			before, jobs := total(), len(stack.Ray.Jobs())
			key := append([]string{"idempotency-key", "order-42"}, auth...)
			var ids []string
			for i := range 2 {
				res := &executorv1.ExecuteDeliberationResponse{}
				if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executeRequest("task-idem"), res, key...); err != nil {
					t.Fatalf("submission %d: %v", i+1, err)
				}
				if !deliberation.ValidID(res.DeliberationId) || (res.Status != "submitted" && res.Status != "running") {
					t.Errorf("submission %d: %v", i+1, res)
				}
				ids = append(ids, res.DeliberationId)
			}
			if ids[0] != ids[1] {
				t.Errorf("the key replayed %s as %s", ids[0], ids[1])
			}
			if n := total() - before; n != 1 {
				t.Errorf("GetStatus counts %d new deliberations, want 1", n)
			}
			if n := len(stack.Ray.Jobs()) - jobs; n != 1 {
				t.Errorf("%d new Ray jobs, want 1", n)
			}
			other := executeRequest("task-idem")
			other.TaskDescription = "Another task"
			err := invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, other, &executorv1.ExecuteDeliberationResponse{}, key...)
			if status.Code(err) != codes.AlreadyExists {
				t.Errorf("the key with another request: %v, want ALREADY_EXISTS", err)
			}
			// The same key on the other execute RPC is another request too.
			err = invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure, backlogRequest("task-idem"), &executorv1.ExecuteDeliberationResponse{}, key...)
			if status.Code(err) != codes.AlreadyExists {
				t.Errorf("the key with a backlog review: %v, want ALREADY_EXISTS", err)
			}
			if n := total() - before; n != 1 {
				t.Errorf("after the refused reuses, %d new deliberations, want 1", n)
			}
		})
	})

	t.Run("active limit, then Redis down", func(t *testing.T) {
		t.Parallel()
		stack := NewStack(t)
		conn := dial(t, rpcProcess(t, stack, combined, map[string]string{"MAX_ACTIVE_DELIBERATIONS": "1", "LOG_LEVEL": "info"}))
		ctx := t.Context()
		first := &executorv1.ExecuteDeliberationResponse{}
		if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executeRequest("task-1"), first); err != nil {
			t.Fatal(err)
		}

		t.Run("RESOURCE_EXHAUSTED", func(t *testing.T) {
			for _, req := range []proto.Message{executeRequest("task-2"), backlogRequest("task-3")} {
				err := invoke(ctx, conn, procedureOf(req), req, &executorv1.ExecuteDeliberationResponse{})
				if status.Code(err) != codes.ResourceExhausted || retryDelay(err) <= 0 {
					t.Errorf("%s over the limit: %v with retry delay %s, want RESOURCE_EXHAUSTED and RetryInfo", procedureOf(req), err, retryDelay(err))
				}
			}
			if n := len(stack.Ray.Jobs()); n != 1 {
				t.Errorf("%d Ray jobs, want 1", n)
			}
			res := &executorv1.GetStatusResponse{}
			if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{IncludeStats: true}, res); err != nil ||
				res.Stats.GetTotalDeliberations() != 1 || res.Stats.GetActiveDeliberations() != 1 {
				t.Errorf("stats %v, %v; want the one accepted", res, err)
			}
		})

		t.Run("UNAVAILABLE", func(t *testing.T) {
			stack.Redis.Kill()
			calls := []proto.Message{executeRequest("task-4"), backlogRequest("task-5"),
				&executorv1.GetDeliberationStatusRequest{DeliberationId: first.DeliberationId},
				&executorv1.GetStatusRequest{IncludeStats: true}, &executorv1.GetStatusRequest{}, &executorv1.GetActiveJobsRequest{}}
			// At once: each waits for the client's own dial attempts to fail (about 2 s).
			var wg sync.WaitGroup
			for _, req := range calls {
				wg.Go(func() {
					start := time.Now()
					err := invoke(ctx, conn, procedureOf(req), req, responseFor(req))
					took := time.Since(start)
					if status.Code(err) != codes.Unavailable || retryDelay(err) <= 0 || took > 5*time.Second {
						t.Errorf("%s with Redis down: %v with retry delay %s after %s; want UNAVAILABLE with RetryInfo within 5 s",
							procedureOf(req), err, retryDelay(err), took)
					}
					if strings.Contains(status.Convert(err).Message(), "127.0.0.1") {
						t.Errorf("%s: the answer shows the store's address: %q", procedureOf(req), status.Convert(err).Message())
					}
				})
			}
			wg.Wait()
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: executorv1connect.RayExecutorServiceName})
			if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health with Redis down: %v, %v", res, err)
			}

			// Back, it answers again once its client dials anew (go-redis retries a failed pool's
			// dial in the background, about once a second).
			stack.Redis.Restart(t)
			deadline := time.Now().Add(10 * time.Second)
			for {
				back := &executorv1.GetStatusResponse{}
				err := invoke(ctx, conn, executorv1connect.RayExecutorServiceGetStatusProcedure, &executorv1.GetStatusRequest{}, back)
				if err == nil && back.Status == "healthy" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GetStatus 10 s after Redis is back: %v, %v", back, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	})

	t.Run("runner queue lag", func(t *testing.T) {
		t.Parallel()
		stack := NewStack(t)
		conn := dial(t, rpcProcess(t, stack, combined, map[string]string{"RAY_DISPATCH": "serve", "MAX_RUNNER_QUEUE_LAG": "1", "LOG_LEVEL": "info"}))
		ctx := t.Context()
		if err := invoke(ctx, conn, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executeRequest("task-1"), &executorv1.ExecuteDeliberationResponse{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the lag reading taken before the queue filled expires
		for _, req := range []proto.Message{executeRequest("task-2"), backlogRequest("task-3")} {
			err := invoke(ctx, conn, procedureOf(req), req, &executorv1.ExecuteDeliberationResponse{})
			if status.Code(err) != codes.ResourceExhausted || retryDelay(err) != 10*time.Second {
				t.Errorf("%s with the queue at its bound: %v with retry delay %s, want RESOURCE_EXHAUSTED and RetryInfo of 10 s",
					procedureOf(req), err, retryDelay(err))
			}
		}
		if queued, total := stack.Queued(t), stack.Total(t); queued != 1 || total != 1 {
			t.Errorf("%d queued and %d counted after the refusals, want 1 and 1", queued, total)
		}
	})
}
