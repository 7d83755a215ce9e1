package wiring_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func TestInstanceLifecycle(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	closed := false
	var got wiring.Env
	inst := wiring.NewInstance(transport.FunctionStats, func(_ context.Context, env wiring.Env) (transport.Backend, func(context.Context) error, error) {
		<-release
		got = env
		svc := app.NewService(fakes.NewStore(), nil, nil, app.DefaultSettings(), env.Log)
		return transport.Backend{Stats: svc}, func(context.Context) error { closed = true; return nil }, nil
	})
	if ready, _ := inst.Ready(t.Context()); ready {
		t.Fatal("ready before Start")
	}
	rec := httptest.NewRecorder()
	inst.Handle(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before Start: %d %v", rec.Code, rec.Header())
	}
	started := make(chan error, 1)
	go func() {
		started <- inst.Start(t.Context(), map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "MAX_AGENTS": "3"})
	}()
	close(release)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if got.Config.MaxAgents != 3 || got.Metrics == nil || got.Log == nil || got.Ports.Ray || got.Ports.Events {
		t.Errorf("wire got %+v", got)
	}
	if ready, _ := inst.Ready(t.Context()); !ready {
		t.Fatal("not ready after Start")
	}
	rec = httptest.NewRecorder()
	inst.Handle(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after Start: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	inst.Handle(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Errorf("metrics lack the runtime collectors")
	}
	if err := inst.Stop(t.Context()); err != nil || !closed {
		t.Errorf("Stop: %v, closed %v", err, closed)
	}
	if alive, _ := inst.Alive(t.Context()); !alive {
		t.Errorf("not alive")
	}
}

func TestInstanceRefusesBadConfig(t *testing.T) {
	t.Parallel()
	wired := false
	inst := wiring.NewInstance(transport.FunctionExecute, func(context.Context, wiring.Env) (transport.Backend, func(context.Context) error, error) {
		wired = true
		return transport.Backend{}, nil, errors.New("unreachable")
	})
	err := inst.Start(t.Context(), map[string]string{"REDIS_URL": "bogus", "MAX_AGENTS": "-1", "RAY_DISPATCH": "jobs"})
	var cerr *config.Error
	if !errors.As(err, &cerr) || wired {
		t.Fatalf("Start: %v (wired %v)", err, wired)
	}
	for _, want := range []string{"REDIS_URL", "MAX_AGENTS", "RAY_ADDRESS: is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if ready, _ := inst.Ready(t.Context()); ready {
		t.Errorf("ready after a failed Start")
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

// TestOnlyRayFunctionsNeedRaySettings: in the jobs dispatch without RAY_ADDRESS, the functions
// with the Ray port refuse to start on their configuration, and the read-only ones get as far as
// wiring their backend.
func TestOnlyRayFunctionsNeedRaySettings(t *testing.T) {
	t.Parallel()
	wired := errors.New("wired")
	for f, entry := range transport.Catalogue {
		inst := wiring.NewInstance(f, func(context.Context, wiring.Env) (transport.Backend, func(context.Context) error, error) {
			return transport.Backend{}, nil, wired
		})
		err := inst.Start(t.Context(), map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RAY_DISPATCH": "jobs"})
		var cerr *config.Error
		if entry.Ports.Ray != errors.As(err, &cerr) || !entry.Ports.Ray && !errors.Is(err, wired) {
			t.Errorf("%s (Ray port %v): %v", f, entry.Ports.Ray, err)
		}
	}
}
