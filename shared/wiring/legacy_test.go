package wiring_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

// TestWarnsOfTheLayoutBeforeShards: a function started on a Redis that still holds the store's
// layout before shards says so in its log, and says nothing on a migrated (or new) one.
func TestWarnsOfTheLayoutBeforeShards(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	start := func(prefix string) *testenv.Buffer {
		var logs testenv.Buffer
		env := map[string]string{"REDIS_URL": "redis://" + srv.Addr, "REDIS_KEY_PREFIX": prefix}
		cfg, err := config.Load(func(k string) string { return env[k] }, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, closeBackend, err := wiring.Adapters(t.Context(), wiring.Env{Config: cfg, Ports: transport.Catalogue[transport.FunctionStats].Ports,
			Log: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = closeBackend(t.Context()) })
		return &logs
	}
	const warning = "key layout before shards"
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	rdb.HSet(t.Context(), "old:stats", "total", 1, "active", 1)
	warned, quiet := start("old"), start("new")
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(warned.String(), warning) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of the old layout in the log: %q", warned.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the other start's check ran by now
	if strings.Contains(quiet.String(), warning) {
		t.Fatalf("warned of the old layout on an empty Redis: %q", quiet.String())
	}
}
