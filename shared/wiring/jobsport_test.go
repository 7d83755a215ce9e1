package wiring

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// One cluster keeps the one adapter it always had; several get the router, and a breaker gauge
// each, told apart by the cluster's name.
func TestJobsPortRoutesOnlyOverSeveralClusters(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, c := range []struct {
		vars   map[string]string
		router bool
		gauges int
	}{
		{map[string]string{"RAY_ADDRESS": "http://127.0.0.1:8265"}, false, 1},
		{map[string]string{"RAY_CLUSTERS": `[{"name":"ray-1","address":"http://127.0.0.1:8265"},` +
			`{"name":"ray-2","address":"http://127.0.0.1:8266","capacity":2,"pools":["default","gpu"]}]`}, true, 2},
	} {
		c.vars["REDIS_URL"], c.vars["RAY_DISPATCH"] = "redis://127.0.0.1:1", "jobs"
		cfg, err := config.Load(func(k string) string { return c.vars[k] }, config.Options{NeedsRay: true})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		port, err := newJobsPort(cfg, rdb, limits(cfg), reg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		switch port.(type) {
		case *jobsrouter.Router:
			if !c.router {
				t.Errorf("%d clusters got the router", len(cfg.Ray.Clusters))
			}
		case *rayjobs.Cluster:
			if c.router {
				t.Errorf("%d clusters got one adapter", len(cfg.Ray.Clusters))
			}
		}
		families, err := reg.Gather()
		if err != nil || len(families) != 1 || len(families[0].GetMetric()) != c.gauges {
			t.Fatalf("breaker gauges %v, %v", families, err)
		}
	}
}
