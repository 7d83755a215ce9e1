package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/transport"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	h.call(http.MethodGet, "/stats", "")
	h.call(http.MethodGet, "/deliberations/nope", "")
	h.do(h.binary("/", transport.TypeStatsRequested, "e", `{}`))
	got := h.call(http.MethodGet, "/metrics", "")
	if got.status != http.StatusOK {
		t.Fatalf("/metrics: %d", got.status)
	}
	for _, want := range []string{
		`rayexec_http_requests_total{code="200",route="stats",transport="http"} 1`,
		`rayexec_http_requests_total{code="400",route="status",transport="http"} 1`,
		`rayexec_http_requests_total{code="200",route="stats",transport="cloudevents"} 1`,
		`rayexec_http_request_duration_seconds_bucket{route="stats",le="0.001"}`,
	} {
		if !strings.Contains(string(got.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
