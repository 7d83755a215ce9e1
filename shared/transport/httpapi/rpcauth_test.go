package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/rayexecutor/functions/shared/transport"
)

// TestRPCPrefixNeedsToken: every path under an RPC service prefix but gRPC health needs the token,
// whatever the request looks like: known or unknown procedure, a content type connect-go does not
// recognise, or CloudEvent headers (which on the JSON routes let a request past the check).
func TestRPCPrefixNeedsToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined, withToken("s3cret"))
	const svc = "/fleet.ray_executor.v1.RayExecutorService/"
	ce := []string{"ce-specversion", "1.0", "ce-type", transport.TypeExecuteRequested, "ce-source", "/x", "ce-id", "e1"}
	cases := []struct {
		name, method, path, contentType string
		headers                         []string
	}{
		{"unknown procedure", http.MethodPost, svc + "NoSuchProcedure", "application/json", nil},
		{"misspelled procedure, structured CloudEvent", http.MethodPost, svc + "ExecuteDeliberaton", "application/cloudevents+json", nil},
		{"known procedure, structured CloudEvent", http.MethodPost, svc + "ExecuteDeliberation", "application/cloudevents+json", nil},
		{"known procedure, binary CloudEvent, text", http.MethodPost, svc + "ExecuteDeliberation", "text/plain", ce},
		{"misspelled procedure, binary CloudEvent, text", http.MethodPost, svc + "GetStatuss", "text/plain", ce},
		{"unknown procedure, binary CloudEvent", http.MethodPost, svc + "Nope", "application/octet-stream", ce},
		{"reflection, odd type", http.MethodPost, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "application/cloudevents+json", nil},
		{"service root", http.MethodGet, svc, "", nil},
	}
	for _, c := range cases {
		got := h.call(c.method, c.path, `{"specversion":"1.0","type":"x","source":"/x","id":"1"}`, append([]string{"Content-Type", c.contentType}, c.headers...)...)
		if got.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d without a token, want 401: %s", c.name, got.status, got.body)
		}
	}
	// Health stays open.
	if got := h.call(http.MethodPost, "/grpc.health.v1.Health/Check", `{}`, "Content-Type", "application/json"); got.status != http.StatusOK {
		t.Errorf("health without a token: %d %s", got.status, got.body)
	}
}
