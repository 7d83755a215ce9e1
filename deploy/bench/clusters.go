package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The clusters scenario (issue 24): the capacity scenario's burst at model latency, taken by the
// runner of one local Ray cluster, then by the runners of two, in the same run and against the
// same functions (serve dispatch: the functions only enqueue, so the second cluster's runner is
// the whole difference). Both heads run all along, so both ways pay for two idle clusters.

// prefixClusters keeps the scenario's deliberations and counters apart from the other scenarios'.
const prefixClusters = "bench-clusters"

// clustersResult is the scenario's outcome: the wall time of every burst of each way, and in the
// two-cluster way each consumer's share of the entries.
type clustersResult struct {
	n       int
	latency time.Duration
	one     []time.Duration
	two     []time.Duration
	// shares are, per two-cluster burst, the consumers' shares of the entries held, largest first.
	shares [][]float64
}

// runClusters starts two heads, deploys the runner on the first, runs the bursts, deploys it on
// the second, runs them again, and stops both heads whatever happened.
func runClusters(ctx context.Context, log *slog.Logger, opts options, bin func(string) string, redisURL string) (*clustersResult, error) {
	model, err := modelserver.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer model.Close()
	for _, m := range []string{"m1", "m2", "m3", "judge"} {
		model.SetBehavior(m, modelserver.Behavior{Delay: opts.capacityLatency})
	}
	var heads []*rayHead
	defer func() {
		for _, h := range heads {
			h.stop(log)
		}
	}()
	for i := range 2 {
		h, err := startRayHeadNumber(ctx, log, i)
		if err != nil {
			return nil, err
		}
		heads = append(heads, h)
	}
	list := make([]config.RayCluster, len(heads))
	for i, h := range heads {
		list[i] = config.RayCluster{Name: "ray-" + strconv.Itoa(i+1), Address: h.address}
	}
	listed, _ := json.Marshal(list)
	fnEnv := map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefixClusters,
		"RAY_DISPATCH": "serve", "RAY_CLUSTERS": string(listed), "RAY_SERVE_DEPLOY": "false", "VLLM_URL_ALLOWLIST": model.URL(),
		"MAX_ACTIVE_DELIBERATIONS": strconv.Itoa(2 * opts.clustersN)}
	settings, err := statusCallback(fnEnv, model.URL())
	if err != nil {
		return nil, err
	}
	maps.Copy(settings, capacityRunnerSettings)
	body := []byte(strings.Replace(executeBody, "http://127.0.0.1:8000", model.URL(), 1))
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	res := &clustersResult{n: opts.clustersN, latency: opts.capacityLatency}
	var fns *functions
	defer func() {
		if fns != nil {
			fns.close()
		}
	}()
	for i, h := range heads {
		client, err := rayserve.NewClient(h.address, "", 30*time.Second)
		if err != nil {
			return nil, err
		}
		if err := deployRunner(ctx, log, client, redisURL, prefixClusters, settings); err != nil {
			return nil, fmt.Errorf("ray-%d: %w", i+1, err)
		}
		if fns == nil {
			if fns, err = startFunctions(ctx, bin, fnEnv, body); err != nil {
				return nil, err
			}
		}
		for r := range opts.runs {
			wall, shares, err := clustersBurst(ctx, fns, rdb, opts.clustersN)
			if err != nil {
				return nil, fmt.Errorf("%d cluster(s), run %d: %w", i+1, r+1, err)
			}
			if i == 0 {
				res.one = append(res.one, wall)
			} else {
				res.two, res.shares = append(res.two, wall), append(res.shares, shares)
			}
			log.Info("clusters", "clusters", i+1, "run", r+1, "wall", wall.String(), "shares", shares)
		}
	}
	return res, nil
}

// clustersBurst submits n executes and waits until the store counts n more deliberations
// finished; it returns the wall time from the first submit and the consumers' shares of the
// entries they held (sampled from XPENDING while the burst ran).
func clustersBurst(ctx context.Context, fns *functions, rdb *redis.Client, n int) (time.Duration, []float64, error) {
	store := redisstore.New(rdb, redisstore.Options{Prefix: prefixClusters})
	ctx, cancel := context.WithTimeout(ctx, capacityTimeout)
	defer cancel()
	finished := func() (int64, error) {
		st, _, err := store.Stats(ctx)
		return st.CompletedDeliberations + st.FailedDeliberations + st.CancelledDeliberations, err
	}
	before, err := finished()
	if err != nil {
		return 0, nil, err
	}
	held := watchHeld(ctx, rdb)
	start := time.Now()
	if err := submitBurst(ctx, fns, n); err != nil {
		return 0, nil, err
	}
	for {
		done, err := finished()
		if err != nil {
			return 0, nil, err
		}
		if done-before >= int64(n) {
			wall := time.Since(start)
			return wall, held(), nil
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("%d of %d finished: %w", done-before, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// watchHeld samples, every 50 ms until stop is called, which consumer holds which entry of the
// scenario's queue; stop answers each consumer's share of the entries seen, largest first.
func watchHeld(ctx context.Context, rdb *redis.Client) (stop func() []float64) {
	keys := runnerqueue.NewKeys(prefixClusters)
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	seen := map[string]string{} // shard/entry id -> the first consumer that held it
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for s := range runnerqueue.Shards {
				pending, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: keys.Queue(s), Group: "runners",
					Start: "-", End: "+", Count: 100000}).Result()
				if err != nil {
					continue
				}
				mu.Lock()
				for _, p := range pending {
					if id := strconv.Itoa(s) + "/" + p.ID; seen[id] == "" {
						seen[id] = p.Consumer
					}
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() []float64 {
		cancel()
		<-done
		counts := map[string]int{}
		for _, c := range seen {
			counts[c]++
		}
		var shares []float64
		for _, n := range counts {
			shares = append(shares, float64(n)/float64(len(seen)))
		}
		slices.Sort(shares)
		slices.Reverse(shares)
		return shares
	}
}
