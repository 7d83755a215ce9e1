package wiring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/natsevents"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
	"github.com/rayexecutor/functions/shared/transport"
)

// Redis client timeouts when the URL does not set its own: a Redis outage must turn into a 503
// well inside func-go's 30 s request limit, not into a request hanging on a dead connection.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 2 * time.Second
)

var _ Wire = Adapters

// Adapters builds the backend of a function from its configuration and the ports its catalogue
// entry lists. Ray is wired only into the functions that talk to it: in the serve dispatch through
// the runners' queue in Redis (and, with RAY_ADDRESS, they put the runner on the cluster:
// runner.go), in the jobs dispatch through the Jobs API at RAY_ADDRESS. The read-only functions
// get a read side (readside.go) instead.
func Adapters(_ context.Context, env Env) (transport.Backend, func(context.Context) error, error) {
	cfg := env.Config
	rdb, err := config.NewRedisClient(cfg.RedisMode, cfg.RedisURL,
		config.RedisTimeouts{Dial: redisDialTimeout, Read: redisIOTimeout, Write: redisIOTimeout})
	if err != nil {
		return transport.Backend{}, nil, fmt.Errorf("redis: %w", err)
	}
	if cfg.Tracing.Enabled() {
		// A span per command or script under the request's span; without the arguments, which
		// carry whole requests and results, nor the calling line, which costs a stack walk.
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithDBStatement(false), redisotel.WithDialFilter(true),
			redisotel.WithCallerEnabled(false),
			redisotel.WithCommandFilter(handshake), redisotel.WithCommandsFilter(handshakes)); err != nil {
			_ = rdb.Close()
			return transport.Backend{}, nil, fmt.Errorf("redis tracing: %w", err)
		}
	}
	durable, err := durability(cfg.RedisDurability, env.Log, env.Metrics)
	if err != nil {
		_ = rdb.Close()
		return transport.Backend{}, nil, err
	}
	store := redisstore.New(rdb, redisstore.Options{Prefix: cfg.RedisKeyPrefix, Retention: cfg.Retention,
		Outbox: cfg.NATSURL != "", Cluster: cfg.RedisMode == config.RedisCluster, Durability: durable})
	warnOfLegacyKeys(rdb, cfg.RedisKeyPrefix, env.Log)
	var cluster app.RayCluster
	// backlog is the runners' queue, which execute watches for backpressure (serve dispatch only).
	var backlog app.RunnerBacklog
	// stopRunnerDeploy ends the runner's deployment (runner.go) when the function stops.
	stopRunnerDeploy := func() {}
	// writeClusters tells the runners which clusters drain (serve dispatch only): at start and on
	// every reconcile pass.
	writeClusters := func(context.Context) error { return nil }
	stopClusterStates := func() {}
	switch {
	case !env.Ports.Ray:
		return readSide(store), func(context.Context) error { return rdb.Close() }, nil
	case cfg.Ray.Dispatch == config.DispatchServe:
		var queue *runnerqueue.Queue
		queue, err = runnerqueue.New(rdb, runnerqueue.Config{Prefix: cfg.RedisKeyPrefix, CallbackURL: cfg.Ray.CallbackURL,
			Policy: limits(cfg).JobPolicy(), MaxLength: streamBound(cfg), Pools: cfg.Ray.Pools()})
		cluster, backlog = queue, queue
		if err == nil {
			writeClusters = clusterStatesWriter(queue, cfg)
			stopClusterStates = startClusterStates(writeClusters, env.Log)
		}
		if err == nil && cfg.Ray.DeployRunner {
			stopRunnerDeploy, err = startRunnerDeploy(cfg, env.Log, env.Metrics)
		}
	case cfg.Ray.Address != "":
		cluster, err = newJobsPort(cfg, rdb, limits(cfg), env.Metrics, env.Log)
	}
	if err != nil {
		stopClusterStates()
		_ = rdb.Close()
		return transport.Backend{}, nil, err
	}
	var events app.EventPublisher
	closeEvents := func(context.Context) error { return nil }
	// Only the functions that change state publish it.
	if cfg.NATSURL != "" && env.Ports.Events && cluster != nil {
		p, err := natsevents.New(natsevents.Options{URL: cfg.NATSURL, SubjectPrefix: cfg.NATSSubjectPrefix, Stream: cfg.NATSStream}, store, env.Log)
		if err != nil {
			stopRunnerDeploy()
			stopClusterStates()
			_ = rdb.Close()
			return transport.Backend{}, nil, fmt.Errorf("nats: %w", err)
		}
		events, closeEvents = p, p.Close
	}
	svc := app.NewService(store, cluster, events, settings(cfg), env.Log)
	if svc.Placed, err = placedCounter(cfg.Ray.Clusters, env.Metrics); err == nil {
		svc.Finished, err = finishedCounter(cfg.Ray.Clusters, env.Metrics)
	}
	if err != nil {
		_ = closeEvents(context.Background())
		stopRunnerDeploy()
		_ = rdb.Close()
		return transport.Backend{}, nil, err
	}
	svc.Backlog = backlog
	svc.Limiter = store
	svc.Secrets = store // ID_SECRET unset: one generated once, kept in Redis
	if cfg.Callers.IDSecret != "" {
		svc.Secrets = app.StaticSecret(cfg.Callers.IDSecret)
	}
	backend := transport.Backend{Execute: svc, Status: svc, Cancel: svc, Stats: svc, Jobs: svc, Wake: svc,
		Reconcile: transport.ReconcileFunc(func(ctx context.Context) error {
			// The pass logs what it did; the PingSource only needs to know whether to retry.
			// The clusters' states first: one HSET, so a drain set in the configuration reaches the
			// runners within a pass even when no function restarted.
			werr := writeClusters(ctx)
			if werr != nil {
				env.Log.WarnContext(ctx, "the clusters' draining states not written", "error", werr.Error())
			}
			_, err := svc.Reconcile(ctx)
			return errors.Join(werr, err)
		})}
	return backend, func(ctx context.Context) error {
		stopRunnerDeploy()
		stopClusterStates()
		// The use cases' unfinished bookkeeping first, then events: both still need Redis.
		return errors.Join(svc.Wait(ctx), closeEvents(ctx), rdb.Close())
	}, nil
}

// handshake tells the commands go-redis sends on each new connection (HELLO, CLIENT SETINFO,
// AUTH, SELECT), which are no part of what a request asked of Redis: they make no span. Nor does
// the write of the clusters' states (clusters.go), the function's own bookkeeping at start.
func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	case "hset":
		key, _ := cmd.Args()[1].(string)
		return strings.HasSuffix(key, runnerqueue.ClustersSuffix)
	}
	return false
}

func handshakes(cmds []redis.Cmder) bool { return len(cmds) > 0 && handshake(cmds[0]) }
