package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The autoscaling scenario: the runner deployed with its queue policy between few replicas of a
// small capacity, idle, then a step burst of N deliberations through the functions, then idle
// again; Serve's replica count, the queue's lag and its redeliveries are sampled every second.

// prefixAutoscale keeps the scenario's queue and counters apart from the other scenarios'.
const prefixAutoscale = "bench-autoscale"

// The runner of the scenario: 1 to 4 replicas of 50 deliberations each, so a burst of hundreds
// needs several; a short downscale delay, so the return to the minimum fits the run.
var autoscaleRunner = rayserve.Autoscaling{MinReplicas: 1, MaxReplicas: 4, UpscaleDelay: time.Second, DownscaleDelay: 10 * time.Second}

const (
	autoscalePerReplica = 50
	// autoscaleIdle is how long the runner is watched idle before the burst.
	autoscaleIdle = 10 * time.Second
	// autoscaleDrainLimit bounds the wait for the burst to finish; autoscaleSettleLimit the wait
	// for the minimum after it (the downscale delay, a replica's drain and Serve's own pace).
	autoscaleDrainLimit  = 5 * time.Minute
	autoscaleSettleLimit = 2 * time.Minute
	autoscaleEvery       = time.Second
)

// replicaSample is one look at the runner, at a time since the burst's first submit (negative
// while idle before it).
type replicaSample struct {
	at              time.Duration
	target, running int
	lag, pending    int64
}

// autoscaleResult is the scenario's outcome, for the report.
type autoscaleResult struct {
	n           int
	latency     time.Duration
	bounds      rayserve.Autoscaling
	samples     []replicaSample
	drained     time.Duration // first submit to every deliberation finished; 0: not within the limit
	settled     time.Duration // drained to the minimum again; 0: not within the limit
	completed   int
	failed      int
	judgeCalls  int // each deliberation run to its end calls the judge once
	redelivered int // queue entries seen delivered more than once
}

// runAutoscale starts the model server and a head, deploys the autoscaled runner, and drives the
// step; it stops the head whatever happened.
func runAutoscale(ctx context.Context, log *slog.Logger, opts options, bin func(string) string, redisURL string) (*autoscaleResult, error) {
	model, err := modelserver.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer model.Close()
	for _, m := range []string{"m1", "m2", "m3", "judge"} {
		model.SetBehavior(m, modelserver.Behavior{Delay: opts.autoscaleLatency})
	}
	head, err := startRayHead(ctx, log)
	if err != nil {
		return nil, err
	}
	defer head.stop(log)
	client, err := rayserve.NewClient(head.address, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	name, zip, err := rayjob.Package()
	if err != nil {
		return nil, err
	}
	bounds := autoscaleRunner
	fnEnv := map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefixAutoscale,
		"RAY_DISPATCH": "serve", "RAY_ADDRESS": head.address, "RAY_SERVE_DEPLOY": "false", "VLLM_URL_ALLOWLIST": model.URL(),
		"MAX_ACTIVE_DELIBERATIONS": strconv.Itoa(2 * opts.autoscaleN)}
	args, err := statusCallback(fnEnv, model.URL())
	if err != nil {
		return nil, err
	}
	maps.Copy(args, map[string]any{"redis_url": redisURL, "key_prefix": prefixAutoscale, "max_deliberations": autoscalePerReplica})
	app := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, Autoscaling: &bounds, Args: args}
	if err := client.DeployRunner(ctx, app, name, zip, runnerDeployTimeout); err != nil {
		return nil, fmt.Errorf("autoscaled runner: %w", err)
	}
	body := []byte(strings.Replace(executeBody, "http://127.0.0.1:8000", model.URL(), 1))
	fns, err := startFunctions(ctx, bin, fnEnv, body)
	if err != nil {
		return nil, err
	}
	defer fns.close()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	res := &autoscaleResult{n: opts.autoscaleN, latency: opts.autoscaleLatency, bounds: bounds}
	if err := driveAutoscale(ctx, log, res, fns, client, rdb); err != nil {
		return res, err
	}
	res.judgeCalls = len(model.JudgeRequests())
	log.Info("autoscale", "max_replicas", res.maxReplicas(), "drained", res.drained.String(), "settled", res.settled.String(),
		"completed", res.completed, "judge_calls", res.judgeCalls, "redelivered", res.redelivered)
	return res, nil
}

// driveAutoscale samples the runner idle, submits the burst, waits for it to finish, then for the
// replicas to return to the minimum, sampling all along.
func driveAutoscale(ctx context.Context, log *slog.Logger, res *autoscaleResult, fns *functions, client *rayserve.Client, rdb *redis.Client) error {
	store := redisstore.New(rdb, redisstore.Options{Prefix: prefixAutoscale})
	keys, group := runnerqueue.NewKeys(prefixAutoscale), "runners"
	redelivered := map[string]bool{}
	start := time.Now().Add(autoscaleIdle)
	sample := func() replicaSample {
		s := replicaSample{at: time.Since(start)}
		if apps, err := client.Applications(ctx); err == nil {
			d := apps["deliberation-runner"].Deployments[rayserve.RunnerDeployment]
			s.target, s.running = d.TargetNumReplicas, d.Running()
		}
		for shard := range runnerqueue.Shards { // the queue's figures are the sums over its shards
			queue := keys.Queue(shard)
			if groups, err := rdb.XInfoGroups(ctx, queue).Result(); err == nil {
				for _, g := range groups {
					if g.Name == group {
						s.lag, s.pending = s.lag+max(g.Lag, 0), s.pending+g.Pending
					}
				}
			}
			if pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: queue, Group: group, Start: "-", End: "+", Count: 10_000}).Result(); err == nil {
				for _, p := range pend {
					if p.RetryCount > 1 {
						redelivered[queue+"/"+p.ID] = true
					}
				}
			}
		}
		res.samples = append(res.samples, s)
		return s
	}
	tick := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(autoscaleEvery):
			return nil
		}
	}
	log.Info("autoscale: idle", "for", autoscaleIdle.String())
	for time.Now().Before(start) {
		sample()
		if err := tick(); err != nil {
			return err
		}
	}
	submitted := make(chan error, 1)
	go func() { submitted <- submitBurst(ctx, fns, res.n) }()
	log.Info("autoscale: burst", "deliberations", res.n, "latency", res.latency.String())
	var submitErr error
	for deadline := time.Now().Add(autoscaleDrainLimit); ; {
		sample()
		select {
		case submitErr = <-submitted:
			submitted = nil
		default:
		}
		st, _, err := store.Stats(ctx)
		if err != nil {
			return err
		}
		res.completed, res.failed = int(st.CompletedDeliberations), int(st.FailedDeliberations+st.CancelledDeliberations)
		if res.completed+res.failed >= res.n {
			res.drained = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			log.Warn("autoscale: the burst did not finish", "within", autoscaleDrainLimit.String(), "finished", res.completed+res.failed)
			break
		}
		if err := tick(); err != nil {
			return err
		}
	}
	if submitErr != nil {
		return submitErr
	}
	if res.drained > 0 {
		log.Info("autoscale: drained; waiting for the minimum", "after", res.drained.String())
		for deadline := time.Now().Add(autoscaleSettleLimit); time.Now().Before(deadline); {
			s := sample()
			if s.target == res.bounds.MinReplicas && s.running == res.bounds.MinReplicas && s.at-res.drained > time.Second {
				res.settled = s.at - res.drained
				break
			}
			if err := tick(); err != nil {
				return err
			}
		}
	}
	res.redelivered = len(redelivered)
	return nil
}
