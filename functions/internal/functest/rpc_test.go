package functest

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestRPCBinaries drives every RPC of RayExecutorService against the built binaries (the four
// functions and the combined one, on one Redis and the fake Ray) in three protocols: native gRPC
// through grpc-go over h2c, and the generated connect-go client in the Connect and gRPC-Web
// protocols over HTTP/1.1. Each function answers its own procedures and UNIMPLEMENTED for the
// others; every function serves gRPC health and server reflection (v1 and v1alpha).
func TestRPCBinaries(t *testing.T) {
	t.Parallel()
	stack := NewStack(t)
	fns := map[transport.Function]*Process{}
	for _, f := range append(slices.Clone(transport.Functions), transport.FunctionCombined) {
		fns[f] = rpcProcess(t, stack, binaryOf(f), map[string]string{"LOG_LEVEL": "info"})
	}
	protocols := []struct {
		name   string
		client func(t *testing.T, fn *Process) caller
	}{
		{"grpc", func(t *testing.T, fn *Process) caller { return grpcCaller(dial(t, fn)) }},
		{"connect", func(_ *testing.T, fn *Process) caller { return connectCaller(fn) }},
		{"grpc-web", func(_ *testing.T, fn *Process) caller { return connectCaller(fn, connect.WithGRPCWeb()) }},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			callers := map[transport.Function]caller{}
			for f, fn := range fns {
				callers[f] = p.client(t, fn)
			}
			rpcScenario(t, stack, p.name, callers)
		})
	}
	t.Run("reflection", func(t *testing.T) {
		t.Parallel()
		for f, fn := range fns {
			checkReflection(t, string(f), dial(t, fn))
		}
	})
	t.Run("health", func(t *testing.T) {
		t.Parallel()
		for f, fn := range fns {
			checkHealth(t, string(f)+" over grpc", func(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
				return healthpb.NewHealthClient(dial(t, fn)).Check(ctx, req)
			})
			for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc-web": {connect.WithGRPCWeb()}} {
				c := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](http.DefaultClient,
					fn.URL+"/"+healthpb.Health_ServiceDesc.ServiceName+"/Check", opts...)
				checkHealth(t, string(f)+" over "+name, func(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
					res, err := c.CallUnary(ctx, connect.NewRequest(req))
					if err != nil {
						return nil, err
					}
					return res.Msg, nil
				})
			}
		}
	})
}

// checkHealth: the server as a whole and RayExecutorService are SERVING; an unknown service is
// NOT_FOUND, as gRPC's health protocol says.
func checkHealth(t *testing.T, where string, check func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)) {
	t.Helper()
	for _, service := range []string{"", executorv1connect.RayExecutorServiceName} {
		res, err := check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: Check(%q) = %v, %v; want SERVING", where, service, res.GetStatus(), err)
		}
	}
	if _, err := check(t.Context(), &healthpb.HealthCheckRequest{Service: "no.such.Service"}); statusOf(err).Code != connect.CodeNotFound {
		t.Errorf("%s: Check of an unknown service: %v, want NOT_FOUND", where, err)
	}
}

var runtimeFormat = regexp.MustCompile(`^(\d+h )?\d+m \d+s$`)

// rpcScenario calls every procedure of every function through callers, with task ids of its own
// (tag) so that scenarios of other protocols on the same Redis do not disturb it.
func rpcScenario(t *testing.T, stack *Stack, tag string, callers map[transport.Function]caller) {
	start := time.Now().Add(-time.Second)
	ctx := t.Context()

	t.Run("each function answers UNIMPLEMENTED for the others' procedures", func(t *testing.T) {
		requests := []proto.Message{executeRequest("task-" + tag), backlogRequest("task-" + tag),
			&executorv1.GetDeliberationStatusRequest{DeliberationId: unknownID}, &executorv1.GetStatusRequest{IncludeStats: true},
			&executorv1.GetActiveJobsRequest{PageSize: 1}}
		checked := 0
		for f, call := range callers {
			for _, req := range requests {
				proc := procedureOf(req)
				if slices.Contains(owners[proc], f) {
					continue
				}
				checked++
				err := call(ctx, req, responseFor(req))
				if s := statusOf(err); s.Code != connect.CodeUnimplemented || !strings.Contains(s.Message, string(f)) || !strings.Contains(s.Message, proc) {
					t.Errorf("%s answered %s with %v, want UNIMPLEMENTED naming both", f, proc, err)
				}
			}
		}
		// execute-deliberation lacks 3 procedures, the other three functions 4 each, combined none.
		if checked != 15 {
			t.Errorf("%d procedures checked on functions that do not own them, want 15", checked)
		}
	})

	// Submissions, each through a function that owns the procedure: ids in submission order.
	type submitted struct {
		id, task, role string
	}
	var subs []submitted
	submit := func(t *testing.T, f transport.Function, req proto.Message) {
		t.Helper()
		res := &executorv1.ExecuteDeliberationResponse{}
		if err := callers[f](ctx, req, res); err != nil {
			t.Fatalf("%s through %s: %v", procedureOf(req), f, err)
		}
		task := req.(interface{ GetTaskId() string }).GetTaskId()
		if res.Status != "submitted" || !deliberation.ValidID(res.DeliberationId) || res.TaskId != task || res.Message == "" {
			t.Fatalf("%s through %s: %v", procedureOf(req), f, res)
		}
		if job, ok := stack.Ray.Job(res.DeliberationId); !ok || job.SubmissionID != res.DeliberationId {
			t.Errorf("Ray has no job for %s", res.DeliberationId)
		}
		subs = append(subs, submitted{res.DeliberationId, task, req.(interface{ GetRole() string }).GetRole()})
	}
	t.Run("ExecuteDeliberation", func(t *testing.T) {
		submit(t, transport.FunctionExecute, executeRequest("task-"+tag+"-1"))
		submit(t, transport.FunctionCombined, executeRequest("task-"+tag+"-2"))
	})
	t.Run("ExecuteBacklogReviewDeliberation", func(t *testing.T) {
		submit(t, transport.FunctionExecute, backlogRequest("task-"+tag+"-3"))
		submit(t, transport.FunctionCombined, backlogRequest("task-"+tag+"-4"))
	})
	if len(subs) != 4 {
		t.Fatalf("%d submissions, want 4", len(subs))
	}

	t.Run("GetDeliberationStatus", func(t *testing.T) {
		for _, f := range []transport.Function{transport.FunctionStatus, transport.FunctionCombined} {
			for _, s := range subs {
				res := &executorv1.GetDeliberationStatusResponse{}
				err := callers[f](ctx, &executorv1.GetDeliberationStatusRequest{DeliberationId: s.id}, res)
				// The fake Ray names no cluster: none is answered; the pool is the default one.
				if err != nil || (res.Status != "submitted" && res.Status != "running") || res.Result != nil || res.ErrorMessage != "" ||
					res.Pool != "default" || res.Cluster != "" {
					t.Errorf("%s: status of %s: %v, %v", f, s.id, res, err)
				}
			}
			err := callers[f](ctx, &executorv1.GetDeliberationStatusRequest{DeliberationId: unknownID}, &executorv1.GetDeliberationStatusResponse{})
			if s := statusOf(err); s.Code != connect.CodeNotFound || !strings.Contains(s.Message, unknownID) {
				t.Errorf("%s: status of an unknown id: %v, want NOT_FOUND naming it", f, err)
			}
			err = callers[f](ctx, &executorv1.GetDeliberationStatusRequest{DeliberationId: "../../x"}, &executorv1.GetDeliberationStatusResponse{})
			if s := statusOf(err); s.Code != connect.CodeInvalidArgument {
				t.Errorf("%s: status of a malformed id: %v, want INVALID_ARGUMENT", f, err)
			}
		}
	})

	t.Run("GetStatus", func(t *testing.T) {
		for _, f := range []transport.Function{transport.FunctionStats, transport.FunctionCombined} {
			res := &executorv1.GetStatusResponse{}
			if err := callers[f](ctx, &executorv1.GetStatusRequest{IncludeStats: true}, res); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			s := res.Stats
			if res.Status != "healthy" || s == nil || res.UptimeSeconds < 0 {
				t.Fatalf("%s: %v", f, res)
			}
			if s.TotalDeliberations != s.ActiveDeliberations+s.CompletedDeliberations+s.FailedDeliberations+s.CancelledDeliberations {
				t.Errorf("%s: total %d is not active + completed + failed + cancelled: %v", f, s.TotalDeliberations, s)
			}
			// Nothing ends on the fake Ray (its jobs run until stopped): ours are all active.
			if s.TotalDeliberations < int64(len(subs)) || s.ActiveDeliberations < int64(len(subs)) || s.CompletedDeliberations != 0 || s.FailedDeliberations != 0 {
				t.Errorf("%s: %v after %d submissions that are all active", f, s, len(subs))
			}

			bare := &executorv1.GetStatusResponse{}
			if err := callers[f](ctx, &executorv1.GetStatusRequest{}, bare); err != nil || bare.Status != "healthy" || bare.Stats != nil {
				t.Errorf("%s: without include_stats: %v, %v; want healthy and no stats", f, bare, err)
			}
		}
	})

	t.Run("GetActiveJobs", func(t *testing.T) {
		for _, f := range []transport.Function{transport.FunctionJobs, transport.FunctionCombined} {
			// One job a page, to the end: every one of ours once, in submission order.
			var seen []string
			token := ""
			for page := 0; ; page++ {
				if page > 1000 {
					t.Fatalf("%s: paging never ends", f)
				}
				res := &executorv1.GetActiveJobsResponse{}
				if err := callers[f](ctx, &executorv1.GetActiveJobsRequest{PageSize: 1, PageToken: token}, res); err != nil {
					t.Fatalf("%s: page %d: %v", f, page, err)
				}
				if len(res.Jobs) > 1 || (len(res.Jobs) == 0 && res.NextPageToken != "") {
					t.Fatalf("%s: page %d of size 1 holds %d jobs, next %q", f, page, len(res.Jobs), res.NextPageToken)
				}
				for _, j := range res.Jobs {
					if j.TaskId == "task-"+tag {
						t.Errorf("%s: an execute answered UNIMPLEMENTED made job %v", f, j)
					}
					i := slices.IndexFunc(subs, func(s submitted) bool { return s.id == j.SubmissionId })
					if i < 0 {
						continue // another protocol's
					}
					seen = append(seen, j.SubmissionId)
					st := j.StartTime.AsTime()
					if j.JobId != j.SubmissionId || j.Name == "" || (j.Status != "PENDING" && j.Status != "RUNNING") ||
						j.TaskId != subs[i].task || j.Role != subs[i].role || j.StartTime == nil || st.Before(start.Truncate(time.Second)) ||
						st.After(time.Now()) || j.EndTime != nil || !runtimeFormat.MatchString(j.Runtime) {
						t.Errorf("%s: job %v", f, j)
					}
				}
				if token = res.NextPageToken; token == "" {
					break
				}
			}
			want := make([]string, len(subs))
			for i, s := range subs {
				want[i] = s.id
			}
			if !slices.Equal(seen, want) {
				t.Errorf("%s: pages of 1 listed %v of ours, want %v", f, seen, want)
			}

			// page_size 0 is the default (100): all of them at once.
			all := &executorv1.GetActiveJobsResponse{}
			if err := callers[f](ctx, &executorv1.GetActiveJobsRequest{}, all); err != nil || all.NextPageToken != "" ||
				!containsJobs(all.Jobs, want) {
				t.Errorf("%s: default page: %d jobs, next %q, %v; want all of %v", f, len(all.Jobs), all.NextPageToken, err, want)
			}
			two := &executorv1.GetActiveJobsResponse{}
			if err := callers[f](ctx, &executorv1.GetActiveJobsRequest{PageSize: 2}, two); err != nil || len(two.Jobs) != 2 || two.NextPageToken == "" {
				t.Errorf("%s: page of 2: %d jobs, next %q, %v", f, len(two.Jobs), two.NextPageToken, err)
			}
		}
	})
}

func containsJobs(jobs []*executorv1.JobInfo, ids []string) bool {
	for _, id := range ids {
		if !slices.ContainsFunc(jobs, func(j *executorv1.JobInfo) bool { return j.SubmissionId == id }) {
			return false
		}
	}
	return true
}

// responseFor is an empty response of the procedure req is for.
func responseFor(req proto.Message) proto.Message {
	switch procedureOf(req) {
	case executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure:
		return &executorv1.ExecuteDeliberationResponse{}
	case executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure:
		return &executorv1.GetDeliberationStatusResponse{}
	case executorv1connect.RayExecutorServiceGetStatusProcedure:
		return &executorv1.GetStatusResponse{}
	}
	return &executorv1.GetActiveJobsResponse{}
}
