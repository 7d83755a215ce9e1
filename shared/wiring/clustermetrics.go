package wiring

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
)

// otherCluster labels a cluster name the configuration does not list (a runner deployed with a
// name of its own): the label's values stay the configured names, however many runners report.
const otherCluster = "other"

// placedCounter counts the attempts recorded on each Ray cluster (app.Service.Placed), labelled
// by the configured cluster names, each exported from 0 so a rate shows from the start.
func placedCounter(clusters []config.RayCluster, reg prometheus.Registerer) (func(cluster string), error) {
	placed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "rayexec", Name: "deliberations_placed_total",
		Help: `Attempts of deliberations recorded on a Ray cluster, by cluster (the configured names; "other" for one the configuration does not list).`,
	}, []string{"cluster"})
	if err := reg.Register(placed); err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		known[c.Name] = true
		placed.WithLabelValues(c.Name)
	}
	return func(cluster string) {
		if !known[cluster] {
			cluster = otherCluster
		}
		placed.WithLabelValues(cluster).Inc()
	}, nil
}
