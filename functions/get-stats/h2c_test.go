package main

import (
	"net/http"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestOnePortSpeaksHTTP1AndH2C: the binary's one port answers plain HTTP/1.1 and HTTP/2 with
// prior knowledge (what Knative's queue-proxy speaks to a port named h2c, and native gRPC
// needs), the same requests with the same answers, CloudEvents included. All mains start through
// wiring.Start, so this one stands for them.
func TestOnePortSpeaksHTTP1AndH2C(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	stack.Seed(t, 2)
	env := stack.Env(nil)
	delete(env, "RAY_ADDRESS")
	fn := functest.Start(t, functest.Build(t), env)

	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  string
	}{
		{"HTTP/1.1", http.DefaultClient, "HTTP/1.1"},
		{"h2c", functest.H2C, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ready := functest.DoWith(t, tc.client, functest.Request(t, http.MethodGet, fn.URL+"/health/readiness", ""))
			if ready.Status != http.StatusOK || string(ready.Body) != "READY" || ready.Proto != tc.proto {
				t.Errorf("readiness: %s %d %q", ready.Proto, ready.Status, ready.Body)
			}

			got := functest.DoWith(t, tc.client, functest.Request(t, http.MethodGet, fn.URL+"/", ""))
			stats, _ := got.JSON(t)["stats"].(map[string]any)
			if got.Status != http.StatusOK || got.Proto != tc.proto || stats["total_deliberations"] != 2.0 {
				t.Errorf("GET /: %s %d %s", got.Proto, got.Status, got.Body)
			}

			for mode, build := range functest.Modes {
				res := functest.DoWith(t, tc.client, build(t, fn.URL+"/", transport.TypeStatsRequested, "p-"+tc.name+"-"+mode, `{}`))
				if res.Proto != tc.proto {
					t.Errorf("%s event answered over %s", mode, res.Proto)
				}
				if data := res.Reply(t, transport.TypeStats); data["status"] != "healthy" {
					t.Errorf("%s event reply %v", mode, data)
				}
			}
		})
	}
}
