package wiring

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
)

// dashboard records the bearer token of every call to it and answers none usefully: what the
// test checks is where each cluster's deploy goes and with which token.
type dashboard struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newDashboard(t *testing.T) *dashboard {
	d := &dashboard{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.tokens = append(d.tokens, r.Header.Get("Authorization"))
		d.mu.Unlock()
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *dashboard) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.tokens...)
}

// TestTheRunnerIsDeployedOnEveryClusterWithAnAddress: each listed cluster with an address gets a
// runner named after it, reading its pools, deployed with its own token; one without an address
// gets none.
func TestTheRunnerIsDeployedOnEveryClusterWithAnAddress(t *testing.T) {
	t.Parallel()
	one, two := newDashboard(t), newDashboard(t)
	clusters, _ := json.Marshal([]map[string]any{
		{"name": "ray-1", "address": one.URL, "token_env": "TOKEN_ONE"},
		{"name": "ray-2", "address": two.URL, "token_env": "TOKEN_TWO", "pools": []string{"gpu", "default"}},
		{"name": "ray-3", "pools": []string{"cpu"}},
	})
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RAY_DISPATCH": "serve", "RAY_SERVE_DEPLOY": "true",
			"RAY_CLUSTERS": string(clusters), "TOKEN_ONE": "tok-one", "TOKEN_TWO": "tok-two"}[k]
	}, config.Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	base, _, _, err := runnerApplication(cfg)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := runnerTargets(cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]any{}
	for _, tg := range targets {
		raw, err := tg.app.Config()
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Applications []struct {
				Args map[string]any `json:"args"`
			} `json:"applications"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		args := c.Applications[0].Args
		got[tg.name] = []any{args["cluster"], args["pools"], args["redis_url"]}
	}
	want := map[string][]any{"ray-1": {"ray-1", []any{"default"}, "redis://127.0.0.1:1"},
		"ray-2": {"ray-2", []any{"gpu", "default"}, "redis://127.0.0.1:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("runners %v, want %v (none on ray-3, which has no address)", got, want)
	}

	reg := prometheus.NewRegistry()
	stop, err := startRunnerDeploy(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for deadline := time.Now().Add(10 * time.Second); len(one.seen()) == 0 || len(two.seen()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not both dashboards asked: %v, %v", one.seen(), two.seen())
		}
	}
	if one.seen()[0] != "Bearer tok-one" || two.seen()[0] != "Bearer tok-two" {
		t.Errorf("tokens sent: ray-1 %v, ray-2 %v; want each cluster's own", one.seen(), two.seen())
	}
}

// TestClusterStatesAreWrittenAtStartAndEveryReconcilePass: the serve dispatch writes every listed
// cluster's draining state for the runners when it starts, and again on each reconcile pass
// (a state lost or changed by hand is put back).
func TestClusterStatesAreWrittenAtStartAndEveryReconcilePass(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	prefix := raytest.UniqueID("states")
	clusters := `[{"name":"ray-1"},{"name":"ray-2","draining":true,"pools":["gpu"]}]`
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"REDIS_URL": srv.URL(), "RAY_DISPATCH": "serve", "RAY_SERVE_DEPLOY": "false",
			"RAY_CLUSTERS": clusters, "REDIS_KEY_PREFIX": prefix}[k]
	}, config.Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	backend, closeBackend, err := Adapters(t.Context(), Env{Config: cfg, Ports: transport.Catalogue[transport.FunctionCombined].Ports,
		Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = closeBackend(context.Background()) }()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	key := prefix + ":{runner}:clusters"
	want := map[string]string{"ray-1": `{"draining":false}`, "ray-2": `{"draining":true}`}
	wait := func(when string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err := rdb.HGetAll(t.Context(), key).Result()
			if err == nil && reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the clusters hash holds %v (%v), want %v", when, got, err, want)
			}
		}
	}
	wait("at start")
	if err := rdb.HSet(t.Context(), key, "ray-2", `{"draining":false}`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := backend.Reconcile.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	wait("after a reconcile pass")
}
