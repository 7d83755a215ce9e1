package wiring

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// newRayCluster builds the Ray port: the embedded deliberation job is uploaded as a working_dir
// package unless the image bakes the job in (RAY_JOB_ENTRYPOINT). Jobs are marked with the
// registry's key prefix as their owner, and carry the deployment's job policy and own limits.
func newRayCluster(c config.Ray, owner string, lim deliberation.Limits, reg prometheus.Registerer) (*rayjobs.Cluster, error) {
	cfg := rayjobs.Config{
		ClientConfig: rayjobs.ClientConfig{Address: c.Address, AuthToken: c.AuthToken},
		Entrypoint:   c.Entrypoint, NumCPUs: c.NumCPUs, Resources: c.Resources, CallbackURL: c.CallbackURL,
		Policy: lim.JobPolicy(), Limits: lim.OwnLimits(c.CallbackURL), Owner: owner,
	}
	if c.Entrypoint == "" {
		cfg.JobPackage, cfg.PackageEntrypoint = rayjob.Package, rayjob.Entrypoint
	}
	cluster, err := rayjobs.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	client := cluster.Client()
	breaker := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "rayexec", Name: "ray_breaker_open",
		Help: "1 while the circuit breaker in front of Ray is open (Ray calls fail at once), 0 otherwise.",
	}, func() float64 {
		if client.BreakerState() == "open" {
			return 1
		}
		return 0
	})
	if err := reg.Register(breaker); err != nil {
		return nil, err
	}
	return cluster, nil
}
