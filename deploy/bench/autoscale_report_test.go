package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/rayserve"
)

// TestAutoscaleFigures: the replica series shows each change once, relative to the burst; the
// most replicas, the peak lag, the lost and the repeated runs come from the samples and counts.
func TestAutoscaleFigures(t *testing.T) {
	t.Parallel()
	s := func(at, target, running int, lag int64) replicaSample {
		return replicaSample{at: time.Duration(at) * time.Second, target: target, running: running, lag: lag}
	}
	a := &autoscaleResult{n: 400, latency: 2 * time.Second, bounds: rayserve.Autoscaling{MinReplicas: 1, MaxReplicas: 4},
		samples: []replicaSample{s(-10, 1, 1, 0), s(-9, 1, 1, 0), s(1, 1, 1, 350), s(2, 4, 1, 340), s(5, 4, 4, 120),
			s(6, 4, 4, 0), s(20, 1, 4, 0), s(22, 1, 1, 0)},
		completed: 398, failed: 1, judgeCalls: 400, drained: 12 * time.Second, settled: 10 * time.Second}
	if got, want := a.series(), "-10s: 1, +2s: 1→4, +5s: 4, +20s: 4→1, +22s: 1"; got != want {
		t.Errorf("series = %q, want %q", got, want)
	}
	if a.maxReplicas() != 4 || a.peakLag() != 350 || a.lost() != 1 || a.ranTwice() != 2 {
		t.Errorf("max %d, peak lag %d, lost %d, twice %d; want 4, 350, 1, 2", a.maxReplicas(), a.peakLag(), a.lost(), a.ranTwice())
	}
	rows := a.rows()
	if len(rows) == 0 || !strings.HasSuffix(rows[1][2], ": met") || !strings.Contains(rows[5][2], "MISSED") || !strings.Contains(rows[6][2], "MISSED") {
		t.Errorf("rows = %v: want the rise passed, the lost and repeated runs failed", rows)
	}
	idle := &autoscaleResult{n: 10, bounds: a.bounds, samples: []replicaSample{s(0, 1, 1, 5)}, completed: 10, judgeCalls: 10}
	if rows := idle.rows(); !strings.Contains(rows[1][2], "MISSED") || !strings.Contains(rows[4][1], "not within") {
		t.Errorf("a runner that never rose: %v", rows)
	}
}
