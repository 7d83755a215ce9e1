package wiring

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// The placed counter's label values are the configured cluster names, each from 0, and one
// "other" for any name the configuration does not list: a runner cannot grow the series.
func TestPlacedCounterLabelsConfiguredClustersOnly(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	placed, err := placedCounter([]config.RayCluster{{Name: "ray-1"}, {Name: "ray-2"}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	placed("ray-1")
	placed("ray-1")
	placed("made-up-by-a-runner")
	placed("another-one")
	want := `
# HELP rayexec_deliberations_placed_total Attempts of deliberations recorded on a Ray cluster, by cluster (the configured names; "other" for one the configuration does not list).
# TYPE rayexec_deliberations_placed_total counter
rayexec_deliberations_placed_total{cluster="other"} 2
rayexec_deliberations_placed_total{cluster="ray-1"} 2
rayexec_deliberations_placed_total{cluster="ray-2"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rayexec_deliberations_placed_total"); err != nil {
		t.Error(err)
	}
}

func TestFinishedCounterLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	finished, err := finishedCounter([]config.RayCluster{{Name: "ray-1"}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	finished("ray-1", deliberation.StatusCompleted)
	finished("ray-1", deliberation.StatusFailed)
	finished("", deliberation.StatusCancelled)
	finished("not-listed", deliberation.StatusFailed)
	want := `
# HELP rayexec_deliberations_finished_total Deliberations that ended, by the cluster of their last attempt ("none" when Ray named none, "other" for a name the configuration does not list) and status (completed, failed, cancelled).
# TYPE rayexec_deliberations_finished_total counter
rayexec_deliberations_finished_total{cluster="none",status="cancelled"} 1
rayexec_deliberations_finished_total{cluster="other",status="failed"} 1
rayexec_deliberations_finished_total{cluster="ray-1",status="completed"} 1
rayexec_deliberations_finished_total{cluster="ray-1",status="failed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rayexec_deliberations_finished_total"); err != nil {
		t.Error(err)
	}
}
