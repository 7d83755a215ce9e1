package wiring

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rayexecutor/functions/shared/config"
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
