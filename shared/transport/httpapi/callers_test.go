package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/rayexecutor/functions/shared/callers"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// withCallers authenticates alice and bob (callers), ops (operator) and the broker's caller
// (for events sent without a token), beside API_TOKEN "op-token".
func withCallers() option {
	named := []callers.Caller{{Name: "alice", Role: callers.RoleCaller}, {Name: "bob", Role: callers.RoleCaller},
		{Name: "ops", Role: callers.RoleOperator}, {Name: "broker", Role: callers.RoleCaller}}
	hashes := [][32]byte{sha256.Sum256([]byte("tok-alice")), sha256.Sum256([]byte("tok-bob")),
		sha256.Sum256([]byte("tok-ops")), sha256.Sum256([]byte("tok-broker"))}
	return func(o *httpapi.Options, _ *transport.Backend) {
		o.Callers = callers.NewDirectory(named, hashes, "op-token", "broker")
	}
}

// TestNamedCallersOverHTTPAndEvents: each caller's token makes it that caller on plain HTTP and
// CloudEvents; another caller's id answers 404 to status and cancel (an event's reply says
// not_found); an event without a token acts as the Broker's caller, a plain request without one
// is 401, and the API_TOKEN operator sees everyone's.
func TestNamedCallersOverHTTPAndEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined, withCallers())
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	create := func(tok string) string {
		r := h.do(h.request(http.MethodPost, "/deliberations", validRequest, auth(tok)...))
		if r.status != http.StatusAccepted {
			t.Fatalf("execute as %s: %d %s", tok, r.status, r.body)
		}
		return r.json(t)["deliberation_id"].(string)
	}
	aliceID, bobID := create("tok-alice"), create("tok-bob")
	if got := h.do(h.request(http.MethodGet, "/deliberations/"+aliceID, "", auth("tok-alice")...)); got.status != http.StatusOK || got.json(t)["caller"] != "alice" {
		t.Fatalf("alice's own: %d %s", got.status, got.body)
	}
	for name, req := range map[string]*http.Request{
		"status": h.request(http.MethodGet, "/deliberations/"+bobID, "", auth("tok-alice")...),
		"cancel": h.request(http.MethodDelete, "/deliberations/"+bobID, "", auth("tok-alice")...),
	} {
		if got := h.do(req); got.status != http.StatusNotFound || got.json(t)["status"] != "not_found" {
			t.Errorf("alice's %s of bob's: %d %s", name, got.status, got.body)
		}
	}
	ev := h.do(h.binary("/", transport.TypeStatusRequested, "s1", `{"deliberation_id":"`+bobID+`"}`, auth("tok-alice")...))
	if ev.status != http.StatusOK || ev.json(t)["status"] != "not_found" {
		t.Errorf("alice's status event about bob's: %d %s", ev.status, ev.body)
	}
	jobs := h.do(h.request(http.MethodGet, "/jobs", "", auth("tok-bob")...)).json(t)["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["job_id"] != bobID {
		t.Errorf("bob's list: %v", jobs)
	}
	for _, tok := range []string{"op-token", "tok-ops"} {
		if jobs := h.do(h.request(http.MethodGet, "/jobs", "", auth(tok)...)).json(t)["jobs"].([]any); len(jobs) != 2 {
			t.Errorf("operator %s lists %d jobs, want 2", tok, len(jobs))
		}
	}
	// gRPC alike: alice's token on bob's id is NOT_FOUND; her page lists hers alone.
	_, err := h.rpc(bearerRPC("tok-alice")).GetDeliberationStatus(context.Background(),
		connect.NewRequest(&executorv1.GetDeliberationStatusRequest{DeliberationId: bobID}))
	if rpcCode(t, err) != connect.CodeNotFound {
		t.Errorf("alice's RPC status of bob's: %v", err)
	}
	page, err := h.rpc(bearerRPC("tok-alice")).GetActiveJobs(context.Background(), connect.NewRequest(&executorv1.GetActiveJobsRequest{}))
	if err != nil || len(page.Msg.GetJobs()) != 1 {
		t.Errorf("alice's RPC page: %v, %v", page, err)
	}
	// Knative's Broker sends no token: its events act as the broker's caller, which sees only its own.
	brokerEvent := h.do(h.binary("/", transport.TypeExecuteRequested, "b1", validRequest))
	if brokerEvent.status != http.StatusOK {
		t.Fatalf("broker's execute event: %d %s", brokerEvent.status, brokerEvent.body)
	}
	brokerID := brokerEvent.json(t)["deliberation_id"].(string)
	if got := h.do(h.request(http.MethodGet, "/deliberations/"+brokerID, "", auth("tok-alice")...)); got.status != http.StatusNotFound {
		t.Errorf("alice reads the broker's: %d", got.status)
	}
	if r, _ := h.svc.Status(callers.With(t.Context(), callers.Caller{Name: "broker", Role: callers.RoleCaller}), brokerID); r.Caller != "broker" {
		t.Errorf("the broker's deliberation records %q", r.Caller)
	}
	for name, req := range map[string]*http.Request{
		"plain without token":      h.request(http.MethodGet, "/jobs", ""),
		"event with a wrong token": h.binary("/", transport.TypeStatsRequested, "e", `{}`, auth("tok-nobody")...),
	} {
		h.do(req).problem(t, http.StatusUnauthorized)
		_ = name
	}
}

// TestHTTPCannotPreClaimAnEventsKey: an HTTP caller that sends, as its Idempotency-Key, the key
// the service derives from an event's source and id (with another body) no longer takes it: the
// event, from the same caller, still makes its own deliberation (it was a 422, dead-lettered).
func TestHTTPCannotPreClaimAnEventsKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	sum := sha256.Sum256([]byte("/orchestrator\x00evt-1"))
	other := strings.Replace(validRequest, "Implement the cache", "something else", 1)
	if r := h.do(h.request(http.MethodPost, "/deliberations", other, "Idempotency-Key", "cloudevent:"+hex.EncodeToString(sum[:]))); r.status != http.StatusAccepted {
		t.Fatalf("pre-claim: %d %s", r.status, r.body)
	}
	req := h.binary("/", transport.TypeExecuteRequested, "evt-1", validRequest)
	req.Header.Set("ce-source", "/orchestrator")
	if r := h.do(req); r.status != http.StatusOK {
		t.Fatalf("the event after the pre-claim: %d %s", r.status, r.body)
	}
}

// spentBucket is a SubmitLimiter whose every bucket is empty for another Wait.
type spentBucket struct{ Wait time.Duration }

func (b spentBucket) TakeSubmit(context.Context, string, float64, int) (time.Duration, error) {
	return b.Wait, nil
}

// bearerRPC sends tok as the bearer token of every RPC.
func bearerRPC(tok string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+tok)
			return next(ctx, req)
		}
	}))
}

// TestCallerRateRefusal: a named caller past its submit rate gets 429 with Retry-After (the
// bucket's wait, rounded up to whole seconds) on JSON and CloudEvents, RESOURCE_EXHAUSTED with that
// RetryInfo on RPC, the backpressure path; the operator of API_TOKEN has no rate.
func TestCallerRateRefusal(t *testing.T) {
	t.Parallel()
	limited := callers.Caller{Name: "alice", Role: callers.RoleCaller, Limited: true,
		Quota: callers.Quota{SubmitRate: 1, SubmitBurst: 1}}
	h := newHarness(t, transport.FunctionCombined, func(o *httpapi.Options, _ *transport.Backend) {
		o.Callers = callers.NewDirectory([]callers.Caller{limited}, [][32]byte{sha256.Sum256([]byte("tok-alice"))}, "op-token", "")
	})
	h.svc.Limiter = spentBucket{Wait: 2500 * time.Millisecond}
	for name, req := range map[string]*http.Request{
		"JSON":       h.request(http.MethodPost, "/deliberations", validRequest, "Authorization", "Bearer tok-alice"),
		"CloudEvent": h.binary("/", transport.TypeExecuteRequested, "evt-rate", validRequest, "Authorization", "Bearer tok-alice"),
	} {
		got := h.do(req)
		got.problem(t, http.StatusTooManyRequests)
		if ra := got.header.Get("Retry-After"); ra != "3" {
			t.Errorf("%s: Retry-After %q, want 3", name, ra)
		}
		if !strings.Contains(string(got.body), "caller alice submits faster") {
			t.Errorf("%s: %s", name, got.body)
		}
	}
	_, err := h.rpc(bearerRPC("tok-alice")).ExecuteDeliberation(context.Background(), connect.NewRequest(validRPCRequest()))
	if rpcCode(t, err) != connect.CodeResourceExhausted {
		t.Errorf("RPC past the rate: %v", err)
	}
	if hints := details[errdetails.RetryInfo](t, err); len(hints) != 1 || hints[0].RetryDelay.AsDuration() != 3*time.Second {
		t.Errorf("RPC past the rate: retry hints %v, want one of 3 s", hints)
	}
	if got := h.do(h.request(http.MethodPost, "/deliberations", validRequest, "Authorization", "Bearer op-token")); got.status != http.StatusAccepted {
		t.Errorf("the operator: %d %s", got.status, got.body)
	}
}
