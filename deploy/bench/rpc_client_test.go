package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
)

// fakeService answers GetStatus and ExecuteDeliberation as the functions do when all is well, and
// refuses an execute message other than the bench's.
type fakeService struct {
	executorv1connect.UnimplementedRayExecutorServiceHandler
}

func (fakeService) GetStatus(_ context.Context, req *connect.Request[executorv1.GetStatusRequest]) (*connect.Response[executorv1.GetStatusResponse], error) {
	if !req.Msg.IncludeStats {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the bench asks for the counters"))
	}
	return connect.NewResponse(&executorv1.GetStatusResponse{Status: "healthy", Stats: &executorv1.RayExecutorStats{TotalDeliberations: 1}}), nil
}

func (fakeService) ExecuteDeliberation(_ context.Context, req *connect.Request[executorv1.ExecuteDeliberationRequest]) (*connect.Response[executorv1.ExecuteDeliberationResponse], error) {
	if !proto.Equal(req.Msg, executeRequest) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("not the bench's request"))
	}
	return connect.NewResponse(&executorv1.ExecuteDeliberationResponse{TaskId: req.Msg.TaskId, DeliberationId: "d-1", Status: "submitted"}), nil
}

// serveRPC serves fakeService on HTTP/1.1 and, with h2c, HTTP/2 cleartext as the functions do,
// and records each call's content type and HTTP version.
func serveRPC(t *testing.T, h2c bool) (url string, seen func() map[string]bool) {
	t.Helper()
	path, handler := executorv1connect.NewRayExecutorServiceHandler(fakeService{})
	var mu sync.Mutex
	got := map[string]bool{}
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Proto+" "+r.Header.Get("Content-Type")] = true
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(h2c)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// TestRPCThroughTheHarness drives both RPCs in both protocols through the open and the closed
// loop, as the protocol rows are measured, and checks each protocol's wire.
func TestRPCThroughTheHarness(t *testing.T) {
	url, seen := serveRPC(t, true)
	ctx := context.Background()
	wire := map[protocol]string{protoGRPC: "HTTP/2.0 application/grpc", protoConnect: "HTTP/1.1 application/proto"}
	for _, p := range rpcProtocols {
		client, err := dialRPC(p, url)
		if err != nil {
			t.Fatal(err)
		}
		defer client.close()
		for _, fn := range []string{"get-stats", "execute-deliberation"} {
			do := rpcOf(fn)
			next := func(int) call { return call{rpc: func(ctx context.Context) error { return do(client, ctx) }} }
			open := openLoop(ctx, nil, next, 1, 1000, 100)
			if open[0].errors > 0 || open[0].p50 <= 0 {
				t.Fatalf("%s %s open loop: %d errors (%v), p50 %s", p, fn, open[0].errors, open[0].firstErr, open[0].p50)
			}
			sat, err := saturate(ctx, nil, next, 4, 200, 5*time.Second, []int{os.Getpid()}, os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if sat[0].errors > 0 || sat[0].throughput <= 0 {
				t.Fatalf("%s %s saturation: %d errors (%v)", p, fn, sat[0].errors, sat[0].firstErr)
			}
		}
		if !seen()[wire[p]] {
			t.Errorf("%s: no call seen as %q, saw %v", p, wire[p], seen())
		}
	}
}

// TestGRPCWithoutH2C: a server that speaks HTTP/1.1 only fails every gRPC call, and the harness
// counts them as errors rather than as fast answers.
func TestGRPCWithoutH2C(t *testing.T) {
	url, _ := serveRPC(t, false)
	client, err := dialRPC(protoGRPC, url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	next := func(int) call { return call{rpc: func(ctx context.Context) error { return client.getStatus(ctx) }} }
	if open := openLoop(context.Background(), nil, next, 1, 1000, 20); open[0].errors != 20 {
		t.Fatalf("%d of 20 calls failed, want all", open[0].errors)
	}
}

// TestExecuteRequestIsExecuteBody: the RPC rows submit what the JSON rows do.
func TestExecuteRequestIsExecuteBody(t *testing.T) {
	var body struct {
		TaskID          string `json:"task_id"`
		TaskDescription string `json:"task_description"`
		Role            string `json:"role"`
		Constraints     struct {
			StoryID  string            `json:"story_id"`
			PlanID   string            `json:"plan_id"`
			Metadata map[string]string `json:"metadata"`
		} `json:"constraints"`
		Agents []struct {
			AgentID string `json:"agent_id"`
			Role    string `json:"role"`
			Model   string `json:"model"`
		} `json:"agents"`
		VLLMURL   string `json:"vllm_url"`
		VLLMModel string `json:"vllm_model"`
	}
	if err := json.Unmarshal([]byte(executeBody), &body); err != nil {
		t.Fatal(err)
	}
	want := &executorv1.ExecuteDeliberationRequest{TaskId: body.TaskID, TaskDescription: body.TaskDescription, Role: body.Role,
		Constraints: &executorv1.TaskConstraints{StoryId: body.Constraints.StoryID, PlanId: body.Constraints.PlanID, Metadata: body.Constraints.Metadata},
		VllmUrl:     body.VLLMURL, VllmModel: body.VLLMModel}
	for _, a := range body.Agents {
		want.Agents = append(want.Agents, &executorv1.Agent{Id: a.AgentID, Role: a.Role, Model: a.Model})
	}
	if !proto.Equal(executeRequest, want) {
		t.Fatalf("executeRequest\n%v\nis not executeBody\n%v", executeRequest, want)
	}
}
