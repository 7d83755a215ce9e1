package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// errChildExited is why a running stack stops on its own: one of its functions exited.
var errChildExited = errors.New("a function exited unexpectedly")

// localModelServers is make run's VLLM_URL_ALLOWLIST when the user names none: an OpenAI-compatible
// server on this machine at vLLM's default port. An empty allowlist allows no model server at all.
const localModelServers = "http://127.0.0.1:8000,http://localhost:8000"

// up starts the stack and returns when ctx ends (nil) or something fails, leaving what it started
// to down.
func (s *stack) up(ctx context.Context, cfg config.Config, opts options, environ []string) error {
	if err := checkPorts(opts.basePort); err != nil {
		return err
	}
	var err error
	redis := endpoint{"Redis", cfg.RedisURL, "from REDIS_URL, REDIS_MODE=" + cfg.RedisMode}
	if redis.url == "" {
		if redis.url, redis.note, err = s.startLocalRedis(ctx, cfg.RedisMode); err != nil {
			return err
		}
	}
	nats := endpoint{"NATS", cfg.NATSURL, "from NATS_URL"}
	if nats.url == "" {
		nats.note = "embedded, JetStream"
		if nats.url, err = s.startNATS(); err != nil {
			return err
		}
	}
	// Before the runner's deployment, which gives the runner the endpoint.
	tracing := s.tracing(ctx, &cfg, environ)
	ray := endpoint{"Ray dashboard", cfg.Ray.Address, "from RAY_ADDRESS"}
	var clusters []localCluster
	switch {
	case opts.clusters > 1:
		ray.note = "local head (deploy/local/rayhead.sh)"
		if clusters, err = s.startClusters(ctx, opts, environ); err != nil {
			return err
		}
	case ray.url == "":
		ray.note = "local head (deploy/local/rayhead.sh), Jobs API"
		if ray.url, err = s.startRay(ctx, s.newRayHead(opts.root, environ), "ray head"); err != nil {
			return err
		}
		fallthrough
	default:
		clusters = []localCluster{{url: ray.url}}
	}
	binDir, err := s.binaries(ctx, opts)
	if err != nil {
		return err
	}

	statusURL := statusFunction.url(opts.basePort)
	callback := cfg.Ray.CallbackURL
	if callback == "" {
		callback = statusURL
	}
	// The functions get the user's whole environment (their other docs/configuration.md settings,
	// PATH, HOME) with the stack's addresses on top; exec keeps the last of duplicate variables.
	env := append(environ[:len(environ):len(environ)], "REDIS_MODE="+cfg.RedisMode, "REDIS_URL="+redis.url, "NATS_URL="+nats.url,
		"RAY_EXECUTOR_CALLBACK_URL="+callback,
		// The stack deployed the runner for its one local machine (one replica, the head's own
		// Python); the functions must not replace it with the cluster's (docs/ray.md).
		"RAY_SERVE_DEPLOY=false")
	if len(clusters) > 1 {
		file, err := s.writeClustersFile(clusters)
		if err != nil {
			return err
		}
		ray.note += ", in RAY_CLUSTERS_FILE " + file
		env = append(env, "RAY_ADDRESS=", "RAY_CLUSTERS_FILE="+file)
	} else {
		env = append(env, "RAY_ADDRESS="+ray.url)
	}
	if cfg.Tracing.Endpoint != lookup(environ, "OTEL_EXPORTER_OTLP_ENDPOINT") {
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+cfg.Tracing.Endpoint) // the collector it started
	}
	models := endpoint{"model servers", strings.Join(cfg.Allowlist.Origins(), ","), "from VLLM_URL_ALLOWLIST"}
	if models.url == "" {
		models.url, models.note = localModelServers, "make run's default VLLM_URL_ALLOWLIST: this machine only"
		env = append(env, "VLLM_URL_ALLOWLIST="+localModelServers)
	}
	if cfg.Ray.Dispatch == config.DispatchServe {
		ray.note += "; the deliberation runner on Ray Serve"
		// The runner's own limits are the functions': their model servers, caps and wake-up.
		own := deliberation.Limits{MaxAgents: cfg.MaxAgents, Allowlist: cfg.Allowlist, MaxAnswerBytes: cfg.MaxAnswerBytes}.
			OwnLimits(callback).RunnerArgs()
		own["allowed_origins"] = strings.Split(models.url, ",")
		for _, c := range clusters {
			if err := s.deployRunner(ctx, c.name, c.url, cfg.RedisMode, redis.url, cfg.RedisKeyPrefix, own, opts.runnerArgs,
				cfg.Tracing.RunnerEnv()); err != nil {
				return err
			}
		}
	}
	exited, err := s.startFunctions(ctx, binDir, env, opts.basePort)
	if err != nil {
		return err
	}

	tick, err := newReconcileTick(statusURL, cfg.APIToken, cfg.ReconcileInterval, s.log)
	if err != nil {
		return err
	}
	tickCtx, stopTick := context.WithCancel(ctx)
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		tick.run(tickCtx)
	}()
	defer func() {
		stopTick()
		<-ticking
	}()

	servers := []endpoint{redis, nats}
	if len(clusters) > 1 {
		for _, c := range clusters {
			servers = append(servers, endpoint{"Ray " + c.name, c.url, ray.note})
		}
	} else {
		servers = append(servers, ray)
	}
	servers = append(servers, models)
	if tracing.url != "" {
		servers = append(servers, tracing)
	}
	printTable(os.Stdout, opts.basePort, servers, cfg.APIToken != "", cfg.ReconcileInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-exited:
			return fmt.Errorf("%w: %s (%s): %v", errChildExited, c.name, c.path, c.proc.Wait())
		case <-s.reload:
			// SIGHUP: the functions read their configuration again (RAY_CLUSTERS_FILE's draining
			// flags), as a rollout after a ConfigMap change does.
			s.log.Info("restarting the functions to read their configuration again")
			s.stopFunctions()
			if exited, err = s.startFunctions(ctx, binDir, env, opts.basePort); err != nil {
				return err
			}
			s.log.Info("functions restarted", "count", len(s.children))
		}
	}
}

// startFunctions starts the programs with env and waits until each is ready; the channel receives
// whichever of them exits.
func (s *stack) startFunctions(ctx context.Context, binDir string, env []string, basePort int) (chan *child, error) {
	exited := make(chan *child, len(programs))
	for _, p := range programs {
		c, err := startChild(p.name, filepath.Join(binDir, p.binary),
			append(env[:len(env):len(env)], "LISTEN_ADDRESS="+p.addr(basePort)), s.out, exited)
		if err != nil {
			return nil, err
		}
		s.children = append(s.children, c)
	}
	for i, p := range programs {
		if err := s.children[i].proc.WaitReady(ctx, p.url(basePort)+launcher.ReadinessPath, readyTimeout, readyPoll); err != nil {
			return nil, err
		}
	}
	return exited, nil
}
