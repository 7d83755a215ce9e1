package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1/executorv1connect"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestRunnerQueueLagRefusal: with the runners' queue at its bound, execute answers 429 with
// Retry-After and a problem document on the JSON route and to a CloudEvent, RESOURCE_EXHAUSTED
// with a retry delay to an RPC, and records nothing; below the bound it accepts again.
func TestRunnerQueueLagRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	backlog := &fakes.Backlog{}
	backlog.Set(5, nil)
	h.svc.Backlog = backlog
	h.svc.Settings.MaxQueueLag = 5
	h.svc.Settings.LagFresh = 0 // every execute reads the lag the test sets

	for name, req := range map[string]*http.Request{
		"JSON":       h.request(http.MethodPost, "/deliberations", validRequest),
		"CloudEvent": h.binary("/", transport.TypeExecuteRequested, "evt-lag", validRequest),
	} {
		got := h.do(req)
		got.problem(t, http.StatusTooManyRequests)
		if ra := got.header.Get("Retry-After"); ra != "10" {
			t.Errorf("%s: Retry-After %q, want 10", name, ra)
		}
		var p struct{ Type, Detail string }
		if err := json.Unmarshal(got.body, &p); err != nil || p.Type != "urn:rayexecutor:problem:too-many" ||
			!strings.Contains(p.Detail, "runners' queue") {
			t.Errorf("%s: problem %s (%v)", name, got.body, err)
		}
	}
	for _, client := range []executorv1connect.RayExecutorServiceClient{h.rpc(), h.rpc(connect.WithGRPCWeb())} {
		_, err := client.ExecuteDeliberation(context.Background(), connect.NewRequest(validRPCRequest()))
		if rpcCode(t, err) != connect.CodeResourceExhausted {
			t.Errorf("RPC at the bound: %v, want RESOURCE_EXHAUSTED", err)
		}
		if hints := details[errdetails.RetryInfo](t, err); len(hints) != 1 || hints[0].RetryDelay.AsDuration() != 10*time.Second {
			t.Errorf("RPC at the bound: retry hints %v, want one of 10 s", hints)
		}
	}
	stats, err := h.svc.Stats(context.Background())
	if err != nil || stats.Stats.TotalDeliberations != 0 || len(h.ray.Calls("Submit")) != 0 {
		t.Fatalf("after refusals: stats %+v (%v), Ray submissions %v; want nothing", stats.Stats, err, h.ray.Calls("Submit"))
	}

	backlog.Set(4, nil)
	if got := h.call(http.MethodPost, "/deliberations", validRequest); got.status != http.StatusAccepted {
		t.Fatalf("below the bound: %d %s", got.status, got.body)
	}
}
