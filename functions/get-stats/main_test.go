package main

import (
	"net/http"
	"os"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/shared/transport"
)

func TestMain(m *testing.M) { os.Exit(functest.Main(m)) }

func TestStats(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	stack.Seed(t, 3)
	// The stats function never talks to Ray: it starts without RAY_ADDRESS.
	env := stack.Env(map[string]string{"API_TOKEN": "test-token-3"})
	delete(env, "RAY_ADDRESS")
	fn := functest.Start(t, functest.Build(t), env)
	auth := []string{"Authorization", "Bearer test-token-3"}

	got := functest.Call(t, http.MethodGet, fn.URL+"/", "", auth...)
	rep := got.JSON(t)
	stats, _ := rep["stats"].(map[string]any)
	if got.Status != http.StatusOK || rep["status"] != "healthy" || stats["total_deliberations"] != 3.0 ||
		stats["active_deliberations"] != 3.0 || stats["completed_deliberations"] != 0.0 {
		t.Errorf("stats: %d %v", got.Status, rep)
	}
	for mode, build := range functest.Modes {
		data := functest.Do(t, build(t, fn.URL+"/", transport.TypeStatsRequested, "s-"+mode, `{}`, auth...)).Reply(t, transport.TypeStats)
		if data["status"] != "healthy" {
			t.Errorf("%s reply %v", mode, data)
		}
	}
	functest.Call(t, http.MethodGet, fn.URL+"/", "").Problem(t, http.StatusUnauthorized)
	if got := functest.Call(t, http.MethodPut, fn.URL+"/", "", auth...); got.Header.Get("Allow") != "GET, POST" {
		t.Errorf("405 Allow %q", got.Header.Get("Allow"))
	}
	functest.Call(t, http.MethodPost, fn.URL+"/", `{}`, auth...).Problem(t, http.StatusUnsupportedMediaType)

	stack.Redis.Kill()
	down := functest.Call(t, http.MethodGet, fn.URL+"/", "", auth...)
	if down.Status != http.StatusServiceUnavailable || down.JSON(t)["status"] != "unhealthy" || down.Header.Get("Retry-After") == "" {
		t.Errorf("stats with Redis down: %d %s", down.Status, down.Body)
	}
	functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeStatsRequested, "d", `{}`, auth...)).Problem(t, http.StatusServiceUnavailable)
}
