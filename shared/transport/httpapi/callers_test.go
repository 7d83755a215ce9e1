package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/callers"
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
