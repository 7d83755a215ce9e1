package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// protocol is how a caller reaches a use case: its JSON route, or RayExecutorService over native
// gRPC or Connect.
type protocol int

const (
	protoJSON protocol = iota
	protoGRPC
	protoConnect
)

func (p protocol) String() string {
	return [...]string{"HTTP/1.1 JSON", "gRPC (grpc-go, h2c)", "Connect (connect-go, HTTP/1.1)"}[p]
}

// short names the protocol in a file name.
func (p protocol) short() string { return [...]string{"json", "grpc", "connect"}[p] }

// rpcTimeout is the deadline of one RPC, as an RPC caller sets one; it matches the JSON client's
// timeout (newClient).
const rpcTimeout = 30 * time.Second

// rpcClient calls one function process over RayExecutorService in one protocol, as a platform
// caller does: native gRPC is a grpc-go ClientConn over h2c (one HTTP/2 connection, calls
// multiplexed on it) with the generic Invoke and the generated messages; Connect is connect-go's
// generated client over a keep-alive HTTP/1.1 pool like the JSON routes'.
type rpcClient struct {
	conn    *grpc.ClientConn
	connect executorv1connect.RayExecutorServiceClient
}

// dialRPC makes the client of p for the function at url (http://host:port); grpc.NewClient
// connects at the first call.
func dialRPC(p protocol, url string) (*rpcClient, error) {
	switch p {
	case protoGRPC:
		conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		return &rpcClient{conn: conn}, err
	case protoConnect:
		return &rpcClient{connect: executorv1connect.NewRayExecutorServiceClient(newClient(), url)}, nil
	}
	return nil, fmt.Errorf("no RPC client for %s", p)
}

func (c *rpcClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// getStatusRequest asks what GET / of get-stats answers: health and the counters.
var getStatusRequest = &executorv1.GetStatusRequest{IncludeStats: true}

// getStatus is GetStatus, the RPC of GET / on get-stats.
func (c *rpcClient) getStatus(ctx context.Context) error {
	res, err := invoke(ctx, c, executorv1connect.RayExecutorServiceGetStatusProcedure, getStatusRequest,
		executorv1connect.RayExecutorServiceClient.GetStatus)
	if err == nil && (res.GetStatus() != "healthy" || res.GetStats() == nil) {
		err = fmt.Errorf("GetStatus answered status %q, stats %v", res.GetStatus(), res.GetStats())
	}
	return err
}

// executeRequest is executeBody as the message of ExecuteDeliberation (rpc_client_test.go holds
// them equal).
var executeRequest = &executorv1.ExecuteDeliberationRequest{
	TaskId:          "bench-task",
	TaskDescription: "Add a read-through cache in front of the user service; keep it consistent on writes.",
	Role:            "ARCHITECT",
	Constraints:     &executorv1.TaskConstraints{StoryId: "story-1", PlanId: "plan-1", Metadata: map[string]string{"sprint": "12"}},
	Agents: []*executorv1.Agent{
		{Id: "a1", Role: "DEV", Model: "m1"}, {Id: "a2", Role: "QA", Model: "m2"}, {Id: "a3", Role: "ARCHITECT", Model: "m3"},
	},
	VllmUrl:   "http://127.0.0.1:8000",
	VllmModel: "judge",
}

// execute is ExecuteDeliberation, the RPC of POST / on execute-deliberation.
func (c *rpcClient) execute(ctx context.Context) error {
	res, err := invoke(ctx, c, executorv1connect.RayExecutorServiceExecuteDeliberationProcedure, executeRequest,
		executorv1connect.RayExecutorServiceClient.ExecuteDeliberation)
	if err == nil && (res.GetDeliberationId() == "" || res.GetStatus() != "submitted") {
		err = fmt.Errorf("ExecuteDeliberation answered id %q, status %q", res.GetDeliberationId(), res.GetStatus())
	}
	return err
}

// invoke makes one RPC under rpcTimeout: over the grpc-go connection with the generic Invoke, or
// with method, the connect-go client's method of the same procedure (a method expression: the
// client is nil for gRPC).
func invoke[Req, Res any](ctx context.Context, c *rpcClient, procedure string, req *Req,
	method func(executorv1connect.RayExecutorServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error)) (*Res, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if c.conn != nil {
		res := new(Res)
		return res, c.conn.Invoke(ctx, procedure, req, res)
	}
	r, err := method(c.connect, ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// rpcOf is the RPC of the use case whose JSON route function fn serves; nil when the bench
// measures none.
func rpcOf(fn string) func(*rpcClient, context.Context) error {
	return map[string]func(*rpcClient, context.Context) error{
		"get-stats":            (*rpcClient).getStatus,
		"execute-deliberation": (*rpcClient).execute,
	}[fn]
}
