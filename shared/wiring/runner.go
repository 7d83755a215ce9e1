package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// Bounds of the runner's deployment: a Ray head that is still starting (pods come up together)
// is waited for, a cluster that never answers is given up on, logged and counted.
const (
	runnerCallTimeout = 30 * time.Second
	runnerDeployTries = 30
	runnerDeployMax   = 10 * time.Minute
	runnerRetryMax    = 30 * time.Second
)

// runnerApplication is the runner this binary would deploy: its embedded package and revision,
// reading the functions' queue under their key prefix, at the Redis address the Ray pods use.
func runnerApplication(c config.Config) (rayserve.RunnerApplication, string, []byte, error) {
	name, zip, err := rayjob.Package()
	if err != nil {
		return rayserve.RunnerApplication{}, "", nil, err
	}
	rev, _, err := rayjob.RunnerRevision()
	if err != nil {
		return rayserve.RunnerApplication{}, "", nil, err
	}
	digest, err := rayjob.PackageDigest()
	if err != nil {
		return rayserve.RunnerApplication{}, "", nil, err
	}
	app := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, WorkingDir: "gcs://" + name, Revision: rev, Digest: digest,
		Args: map[string]any{"redis_url": c.Ray.RunnerRedisURL, "redis_mode": c.RedisMode,
			"key_prefix": c.RedisKeyPrefix},
		Replicas: c.Ray.RunnerMinReplicas, Pip: rayjob.RunnerRequirements(), Env: c.Tracing.RunnerEnv()}
	// The runner's own limits: an entry outside them (one forged by whoever writes to Redis) is
	// refused on the runner's side, whatever its policy says.
	maps.Copy(app.Args, limits(c).OwnLimits(c.Ray.CallbackURL).RunnerArgs())
	// Equal bounds are a fixed count; otherwise Serve follows the queue between them.
	if c.Ray.RunnerMaxReplicas > c.Ray.RunnerMinReplicas {
		app.Autoscaling = &rayserve.Autoscaling{MinReplicas: c.Ray.RunnerMinReplicas, MaxReplicas: c.Ray.RunnerMaxReplicas,
			UpscaleDelay: c.Ray.RunnerUpscaleDelay, DownscaleDelay: c.Ray.RunnerDownscaleDelay}
	}
	return app, name, zip, nil
}

// runnerApplicationOn is the runner this binary would deploy on one cluster of the list: named
// after it, reading the streams of its pools.
func runnerApplicationOn(base rayserve.RunnerApplication, rc config.RayCluster) rayserve.RunnerApplication {
	app := base
	app.Cluster, app.Pools = rc.Name, slices.Clone(rc.Pools)
	return app
}

// runnerTarget is one cluster's runner and the client of its dashboard.
type runnerTarget struct {
	app    rayserve.RunnerApplication
	client *rayserve.Client
	name   string
}

// runnerTargets are the runners to deploy: one on every cluster of the list with an address (one
// without is not the functions' to deploy on: its runner comes otherwise, a RayService), each
// with its own name, pools and token.
func runnerTargets(c config.Config, base rayserve.RunnerApplication) ([]runnerTarget, error) {
	var targets []runnerTarget
	for _, rc := range c.Ray.Clusters {
		if rc.Address == "" {
			continue
		}
		app := runnerApplicationOn(base, rc)
		// A config Serve would refuse is this deployment's mistake: say so at start, not in a retry loop.
		if _, err := app.Config(); err != nil {
			return nil, fmt.Errorf("deliberation runner of cluster %s: %w", rc.Name, err)
		}
		client, err := rayserve.NewClient(rc.Address, rc.Token, runnerCallTimeout)
		if err != nil {
			return nil, fmt.Errorf("deliberation runner of cluster %s: %w", rc.Name, err)
		}
		targets = append(targets, runnerTarget{app: app, client: client, name: rc.Name})
	}
	return targets, nil
}

// startRunnerDeploy makes sure, in the background, that every cluster of the list with an
// address runs this binary's runner (rayserve.Decide says when to deploy over what runs), each
// under its own name, with its own pools and token. It never delays readiness or a request: until
// a runner runs, attempts wait in the queue. The returned stop ends every check and waits.
func startRunnerDeploy(c config.Config, log *slog.Logger, reg prometheus.Registerer) (func(), error) {
	base, name, zip, err := runnerApplication(c)
	if err != nil {
		return nil, err
	}
	targets, err := runnerTargets(c, base)
	if err != nil {
		return nil, err
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "rayexec", Name: "runner_deploy_checks_total",
		Help: "Checks of the deliberation runner on each Ray cluster at start, by cluster and outcome: deployed, current (left as it was) or failed.",
	}, []string{"cluster", "outcome"})
	if err := reg.Register(outcomes); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome := deployRunner(ctx, tg.client, tg.app, name, zip,
				log.With("cluster", tg.name, "runner_package", name, "runner_revision", tg.app.Revision))
			if outcome != "" {
				outcomes.WithLabelValues(tg.name, outcome).Inc()
			}
		}()
	}
	return func() { cancel(); wg.Wait() }, nil
}

// deployRunner checks one cluster's runner, deploying app when rayserve.Decide says so, retrying
// while Ray does not answer; the outcome counted, or "" when the function stopped first.
func deployRunner(ctx context.Context, client *rayserve.Client, app rayserve.RunnerApplication, name string, zip []byte,
	log *slog.Logger) string {
	deployed, err := backoff.Retry(ctx, func() (bool, error) {
		apps, err := client.Applications(ctx)
		if err != nil {
			return false, err
		}
		d := rayserve.Decide(apps, app)
		if !d.Deploy {
			log.Info("deliberation runner left as it is", "reason", d.Reason)
			return false, nil
		}
		log.Info("deploying the deliberation runner", "reason", d.Reason)
		return true, client.PutRunner(ctx, app, name, zip)
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.5,
		Multiplier: 1.5, MaxInterval: runnerRetryMax}), backoff.WithMaxTries(runnerDeployTries),
		backoff.WithMaxElapsedTime(runnerDeployMax),
		backoff.WithNotify(func(err error, next time.Duration) {
			log.Warn("deliberation runner: Ray did not answer, trying again", "error", err.Error(), "in", next.String())
		}))
	switch {
	case ctx.Err() != nil:
		return ""
	case err != nil:
		log.Error("deliberation runner not deployed: attempts wait in the queue until one runs", "error", err.Error())
		return "failed"
	case deployed:
		log.Info("deliberation runner deployed; Serve starts its replicas")
		return "deployed"
	}
	return "current"
}
