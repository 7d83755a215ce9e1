package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
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

// startRunnerDeploy makes sure, in the background, that the cluster runs this binary's runner
// (rayserve.Decide says when to deploy over what runs). It never delays readiness or a request:
// until the runner runs, attempts wait in the queue. The returned stop ends it and waits.
func startRunnerDeploy(c config.Config, log *slog.Logger, reg prometheus.Registerer) (func(), error) {
	app, name, zip, err := runnerApplication(c)
	if err != nil {
		return nil, err
	}
	// A config Serve would refuse is this deployment's mistake: say so at start, not in a retry loop.
	if _, err := app.Config(); err != nil {
		return nil, fmt.Errorf("deliberation runner: %w", err)
	}
	client, err := rayserve.NewClient(c.Ray.Address, c.Ray.AuthToken, runnerCallTimeout)
	if err != nil {
		return nil, err
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "rayexec", Name: "runner_deploy_checks_total",
		Help: "Checks of the deliberation runner on the Ray cluster at start, by outcome: deployed, current (left as it was) or failed.",
	}, []string{"outcome"})
	if err := reg.Register(outcomes); err != nil {
		return nil, err
	}
	log = log.With("runner_package", name, "runner_revision", app.Revision)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
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
		case err != nil:
			outcomes.WithLabelValues("failed").Inc()
			log.Error("deliberation runner not deployed: attempts wait in the queue until one runs", "error", err.Error())
		case deployed:
			outcomes.WithLabelValues("deployed").Inc()
			log.Info("deliberation runner deployed; Serve starts its replicas")
		default:
			outcomes.WithLabelValues("current").Inc()
		}
	}()
	return func() { cancel(); <-done }, nil
}
