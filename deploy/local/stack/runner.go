package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// runnerDeployTimeout bounds the runner's deployment: a fresh head starts Serve's controller and
// one replica in a few seconds; a loaded machine may take much longer.
const runnerDeployTimeout = 3 * time.Minute

// deployRunner puts the deliberation runner on the Ray head as a Serve application, reading the
// stack's Redis under the functions' key prefix. Serve's config is one document per cluster: on a
// head the user gave, this replaces the Serve applications there. redisMode is REDIS_MODE, which
// says how the runner reads redisURL; limits are the runner's own (allowed_origins, callback_url,
// caps), the functions'; env is what the replicas get beside it (the functions' OTLP endpoint, so
// the runner's spans join theirs).
// cluster names the head (ray-1, ...; "" for make run's one head); extra are RUN_RUNNER_ARGS.
func (s *stack) deployRunner(ctx context.Context, cluster, rayURL, redisMode, redisURL, prefix string, limits, extra map[string]any,
	env map[string]string) error {
	client, err := rayserve.NewClient(rayURL, "", 30*time.Second)
	if err != nil {
		return err
	}
	name, zip, err := rayjob.Package()
	if err != nil {
		return err
	}
	s.log.Info("deploying the deliberation runner (Ray Serve) on the head", "cluster", cluster)
	start := time.Now()
	args := map[string]any{"redis_url": redisURL, "redis_mode": redisMode, "key_prefix": prefix}
	maps.Copy(args, limits)
	maps.Copy(args, extra)
	app := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, Args: args, Env: env, Cluster: cluster}
	if err := client.DeployRunner(ctx, app, name, zip, runnerDeployTimeout); err != nil {
		return fmt.Errorf("deliberation runner: %w", err)
	}
	s.log.Info("deliberation runner running", "cluster", cluster, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}
