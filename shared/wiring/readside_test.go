package wiring_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

// TestEachFunctionGetsOnlyItsUseCases wires every function as the binaries do: the read-only ones
// get the stats and the jobs page and nothing that could submit, cancel or advance a deliberation,
// and every backend holds every use case the function's catalogue entry serves.
func TestEachFunctionGetsOnlyItsUseCases(t *testing.T) {
	t.Parallel()
	// No server is dialled: wiring connects lazily, and only the jobs dispatch's Ray client needs an address.
	env := map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RAY_DISPATCH": "serve"}
	for f, entry := range transport.Catalogue {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(func(k string) string { return env[k] }, config.Options{NeedsRay: entry.Ports.Ray})
			if err != nil {
				t.Fatal(err)
			}
			b, closeBackend, err := wiring.Adapters(t.Context(), wiring.Env{Config: cfg, Ports: entry.Ports,
				Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = closeBackend(t.Context()) })
			if err := b.Check(f); err != nil {
				t.Error(err)
			}
			if entry.Ports.Ray {
				return
			}
			for _, u := range []transport.UseCase{transport.UseExecute, transport.UseStatus, transport.UseCancel,
				transport.UseWake, transport.UseReconcile} {
				if b.Has(u) {
					t.Errorf("read-only %s is wired with %s", f, u)
				}
			}
		})
	}
}
