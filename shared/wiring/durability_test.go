package wiring

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
)

// TestDurabilityShortfallIsCountedAndLogged: with REDIS_MIN_REPLICAS_ACK set, a write fewer
// replicas confirmed is counted and logged as a warning naming the key; without it nothing waits
// and no counter is registered.
func TestDurabilityShortfallIsCountedAndLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	d, err := durability(config.RedisDurability{Replicas: 1, Timeout: 250 * time.Millisecond},
		slog.New(slog.NewJSONHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Replicas != 1 || d.Timeout != 250*time.Millisecond || d.Short == nil {
		t.Fatalf("durability %+v", d)
	}
	d.Short(t.Context(), "p:{s03}:d:delib-x", 0, 1)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "rayexec_redis_replication_short_total" {
		t.Fatalf("metrics %v, %v", mfs, err)
	}
	if v := mfs[0].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("counter %v, want 1", v)
	}
	if line := logs.String(); !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "p:{s03}:d:delib-x") || !strings.Contains(line, `"replicas_confirmed":0`) {
		t.Errorf("warning: %s", line)
	}
	off, err := durability(config.RedisDurability{Timeout: time.Second}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil || off.Replicas != 0 || off.Short != nil {
		t.Errorf("off: %+v, %v", off, err)
	}
}
