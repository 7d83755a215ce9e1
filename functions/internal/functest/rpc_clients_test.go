package functest

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
)

// The RPC tests drive the built binaries as RayExecutorService's callers do: native gRPC
// (grpc-go over h2c), connect-go in the Connect and gRPC-Web protocols, a gRPC-Web request built
// by hand and the Python stub grpcio-tools generates. This file holds what they share: the
// contract's ownership table, valid requests, and one way to call a procedure in any protocol.

// owners is who serves each procedure (docs/grpc.md), written out here rather than read from
// the adapter so that a change of ownership shows up as a failure.
var owners = map[string][]transport.Function{
	executorv1connect.RayExecutorServiceExecuteDeliberationProcedure:              {transport.FunctionExecute, transport.FunctionCombined},
	executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure: {transport.FunctionExecute, transport.FunctionCombined},
	executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure:            {transport.FunctionStatus, transport.FunctionCombined},
	executorv1connect.RayExecutorServiceGetStatusProcedure:                        {transport.FunctionStats, transport.FunctionCombined},
	executorv1connect.RayExecutorServiceGetActiveJobsProcedure:                    {transport.FunctionJobs, transport.FunctionCombined},
}

// unknownID is a well-formed deliberation id no test submits.
const unknownID = "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"

// executeRequest is ValidRequest as the contract's message, for task.
func executeRequest(task string) *executorv1.ExecuteDeliberationRequest {
	return &executorv1.ExecuteDeliberationRequest{
		TaskId: task, TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: &executorv1.TaskConstraints{StoryId: "story-1", PlanId: "plan-1", TimeoutSeconds: 120, MaxRetries: 1,
			Metadata: map[string]string{"team": "core"}},
		Agents:  []*executorv1.Agent{{Id: "a1", Role: "DEV", Model: "m1"}, {Id: "a2", Role: "QA", Model: "m2", PromptTemplate: "Review {task}"}},
		VllmUrl: ModelServer, VllmModel: "judge",
	}
}

// backlogRequest is a valid backlog review for task.
func backlogRequest(task string) *executorv1.ExecuteBacklogReviewDeliberationRequest {
	return &executorv1.ExecuteBacklogReviewDeliberationRequest{
		TaskId: task, TaskDescription: "Review the backlog", Role: "PO",
		Constraints: &executorv1.BacklogReviewTaskConstraints{StoryId: "story-2", TimeoutSeconds: 60},
		Agents:      []*executorv1.Agent{{Id: "po1", Role: "PO", Model: "m1"}},
		VllmUrl:     ModelServer, VllmModel: "judge",
	}
}

// procedureOf names the procedure a request message is for.
func procedureOf(req proto.Message) string {
	switch req.(type) {
	case *executorv1.ExecuteDeliberationRequest:
		return executorv1connect.RayExecutorServiceExecuteDeliberationProcedure
	case *executorv1.ExecuteBacklogReviewDeliberationRequest:
		return executorv1connect.RayExecutorServiceExecuteBacklogReviewDeliberationProcedure
	case *executorv1.GetDeliberationStatusRequest:
		return executorv1connect.RayExecutorServiceGetDeliberationStatusProcedure
	case *executorv1.GetStatusRequest:
		return executorv1connect.RayExecutorServiceGetStatusProcedure
	case *executorv1.GetActiveJobsRequest:
		return executorv1connect.RayExecutorServiceGetActiveJobsProcedure
	}
	panic("no procedure takes a " + string(proto.MessageName(req)))
}

// caller calls the procedure req is for and fills res, sending md (name, value pairs) as metadata.
type caller func(ctx context.Context, req, res proto.Message, md ...string) error

// rpcStatus is an error answer as any client reads it: the code and the google.rpc details.
type rpcStatus struct {
	Code    connect.Code
	Message string
	Details []proto.Message
}

// statusOf reads an error of either client library; gRPC's and Connect's codes are the same
// numbers. An error that is neither is a transport failure: Code 0 with its text.
func statusOf(err error) rpcStatus {
	var ce *connect.Error
	if errors.As(err, &ce) {
		s := rpcStatus{Code: ce.Code(), Message: ce.Message()}
		for _, d := range ce.Details() {
			if m, err := d.Value(); err == nil {
				s.Details = append(s.Details, m)
			}
		}
		return s
	}
	if st, ok := status.FromError(err); ok {
		s := rpcStatus{Code: connect.Code(st.Code()), Message: st.Message()}
		for _, d := range st.Details() {
			if m, ok := d.(proto.Message); ok {
				s.Details = append(s.Details, m)
			}
		}
		return s
	}
	return rpcStatus{Message: err.Error()}
}

// dial opens a native gRPC connection (HTTP/2 over cleartext with prior knowledge) to fn.
func dial(t testing.TB, fn *Process) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(fn.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// grpcCaller calls through grpc-go's generic Invoke: no generated gRPC stub, the procedure by name.
func grpcCaller(conn *grpc.ClientConn) caller {
	return func(ctx context.Context, req, res proto.Message, md ...string) error {
		if len(md) > 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, md...)
		}
		return conn.Invoke(ctx, procedureOf(req), req, res)
	}
}

// connectCaller calls through the generated connect-go client, in the protocol opts choose
// (Connect by default, connect.WithGRPCWeb()), over HTTP/1.1.
func connectCaller(fn *Process, opts ...connect.ClientOption) caller {
	c := executorv1connect.NewRayExecutorServiceClient(http.DefaultClient, fn.URL, opts...)
	return func(ctx context.Context, req, res proto.Message, md ...string) error {
		switch r := req.(type) {
		case *executorv1.ExecuteDeliberationRequest:
			return viaConnect(ctx, c.ExecuteDeliberation, r, res, md)
		case *executorv1.ExecuteBacklogReviewDeliberationRequest:
			return viaConnect(ctx, c.ExecuteBacklogReviewDeliberation, r, res, md)
		case *executorv1.GetDeliberationStatusRequest:
			return viaConnect(ctx, c.GetDeliberationStatus, r, res, md)
		case *executorv1.GetStatusRequest:
			return viaConnect(ctx, c.GetStatus, r, res, md)
		case *executorv1.GetActiveJobsRequest:
			return viaConnect(ctx, c.GetActiveJobs, r, res, md)
		}
		panic("no procedure takes a " + string(proto.MessageName(req)))
	}
}

func viaConnect[Req, Res any](ctx context.Context, call func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
	req *Req, res proto.Message, md []string) error {
	r := connect.NewRequest(req)
	for i := 0; i+1 < len(md); i += 2 {
		r.Header().Add(md[i], md[i+1])
	}
	out, err := call(ctx, r)
	if err != nil {
		return err
	}
	proto.Merge(res, any(out.Msg).(proto.Message))
	return nil
}

// rpcProcess starts binary name of the shared build on stack with extra settings.
func rpcProcess(t testing.TB, stack *Stack, name string, extra map[string]string) *Process {
	t.Helper()
	return Start(t, filepath.Join(functionBinaries(t), name), stack.Env(extra))
}
