package wiring

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// newJobsPort builds the jobs dispatch's Ray port: the one cluster's adapter as it always was, or,
// with several clusters configured, the router over one adapter per cluster, which keeps each
// attempt's placement in Redis under the store's prefix.
func newJobsPort(cfg config.Config, rdb redis.UniversalClient, lim deliberation.Limits, reg prometheus.Registerer, log *slog.Logger) (app.RayCluster, error) {
	if len(cfg.Ray.Clusters) <= 1 {
		return newRayCluster(cfg.Ray, cfg.RedisKeyPrefix, lim, reg, nil)
	}
	members := make([]jobsrouter.Member, 0, len(cfg.Ray.Clusters))
	for _, rc := range cfg.Ray.Clusters {
		one := cfg.Ray
		one.Address, one.AuthToken = rc.Address, rc.Token
		cluster, err := newRayCluster(one, cfg.RedisKeyPrefix, lim, reg, prometheus.Labels{"cluster": rc.Name})
		if err != nil {
			return nil, err
		}
		members = append(members, jobsrouter.Member{Name: rc.Name, Port: cluster, Pools: rc.Pools,
			Capacity: rc.Capacity, Draining: rc.Draining, Breaker: cluster.Client().BreakerState})
	}
	return jobsrouter.New(rdb, members, jobsrouter.Options{Prefix: cfg.RedisKeyPrefix,
		LostAfter: cfg.PendingLimit, Log: log})
}

// newRayCluster builds the Ray port of one cluster: the embedded deliberation job is uploaded as
// a working_dir package unless the image bakes the job in (RAY_JOB_ENTRYPOINT). Jobs are marked
// with the registry's key prefix as their owner, and carry the deployment's job policy and own
// limits. labels tell the breaker gauges of several clusters apart (nil for the one cluster).
func newRayCluster(c config.Ray, owner string, lim deliberation.Limits, reg prometheus.Registerer, labels prometheus.Labels) (*rayjobs.Cluster, error) {
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
		Namespace: "rayexec", Name: "ray_breaker_open", ConstLabels: labels,
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
