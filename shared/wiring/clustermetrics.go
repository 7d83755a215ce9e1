package wiring

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// otherCluster labels a cluster name the configuration does not list (a runner deployed with a
// name of its own): the label's values stay the configured names, however many runners report.
const otherCluster = "other"

// noCluster labels a deliberation that ended before the Ray side named a cluster (cancelled or
// expired while queued, or in a Ray that does not say).
const noCluster = "none"

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

// finishedCounter counts the deliberations that ended, by the cluster of their last attempt and
// their terminal status (app.Service.Finished): which cluster fails more than the others.
func finishedCounter(clusters []config.RayCluster, reg prometheus.Registerer) (func(cluster string, status deliberation.Status), error) {
	finished := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "rayexec", Name: "deliberations_finished_total",
		Help: `Deliberations that ended, by the cluster of their last attempt ("none" when Ray named none, "other" for a name the configuration does not list) and status (completed, failed, cancelled).`,
	}, []string{"cluster", "status"})
	if err := reg.Register(finished); err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		known[c.Name] = true
	}
	return func(cluster string, status deliberation.Status) {
		switch {
		case cluster == "":
			cluster = noCluster
		case !known[cluster]:
			cluster = otherCluster
		}
		finished.WithLabelValues(cluster, string(status)).Inc()
	}, nil
}
