package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The capacity scenario: a burst of N deliberations of executeBody (three agents, then the judge)
// against a model server that answers every call after a latency L, as a real model does, through
// the functions and the Serve runner on a real Ray head; beside it, in the same run, one asyncio
// process making the same calls with no Redis, no Ray and no queue (capacity_floor.py), which is
// what a user could write instead and the least this machine can do. A burst's floor is 2 L: the
// agents at once, then the judge.

// prefixCapacity keeps the scenario's deliberations and counters apart from the other scenarios'.
const prefixCapacity = "bench-capacity"

// capacitySubmitters is how many executes are in flight at once while the burst is submitted.
const capacitySubmitters = 64

// capacityRunnerSettings lets one replica put every call of the burst on the wire: the fake is one
// origin standing in for a pool of model servers, which the default max_calls_per_origin (512,
// one vLLM server's batch) would hold back.
var capacityRunnerSettings = map[string]any{"max_calls": 4096, "max_calls_per_origin": 4096}

// capacityFiguresWait bounds the wait for every replica's figures written after the burst (the
// runner writes them every heartbeat_s, 5 s by default).
const capacityFiguresWait = 15 * time.Second

// capacityTimeout bounds one way's burst: the threaded runner took 129 s for 1,000 at 2 s.
const capacityTimeout = 10 * time.Minute

// capacityWay is what one way measured.
type capacityWay struct {
	name              string
	wall              time.Duration
	completed, failed int
	// peakCalls is the most model calls the fake model server had in flight at once.
	peakCalls int
	extraRSS  int64
	// loopLagP99 is the runner replicas' event-loop lag p99 (the most of any replica), read from
	// the replicas hash after the burst; negative where there is no runner.
	loopLagP99 time.Duration
}

// capacityResult is the scenario's outcome, for the report.
type capacityResult struct {
	n       int
	latency time.Duration
	ways    []capacityWay
}

// runCapacity starts the model server and a head, runs the floor, then the functions with the
// runner, and stops the head whatever happened.
func runCapacity(ctx context.Context, log *slog.Logger, opts options, bin func(string) string, redisURL string) (*capacityResult, error) {
	// The tests' fake model server (internal/fakes/modelserver), in the bench process.
	model, err := modelserver.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer model.Close()
	for _, m := range []string{"m1", "m2", "m3", "judge"} {
		model.SetBehavior(m, modelserver.Behavior{Delay: opts.capacityLatency})
	}
	head, err := startRayHead(ctx, log)
	if err != nil {
		return nil, err
	}
	defer head.stop(log)
	mem := newHeadMemory(head.tempDir)
	res := &capacityResult{n: opts.capacityN, latency: opts.capacityLatency}

	floor, err := capacityFloor(ctx, model, mem, opts)
	if err != nil {
		return nil, fmt.Errorf("capacity floor: %w", err)
	}
	res.ways = append(res.ways, floor)
	log.Info("capacity", "way", floor.name, "wall", floor.wall.String(), "peak_calls", floor.peakCalls)

	client, err := rayserve.NewClient(head.address, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	fnEnv := map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefixCapacity,
		"RAY_DISPATCH": "serve", "RAY_ADDRESS": head.address, "RAY_SERVE_DEPLOY": "false", "VLLM_URL_ALLOWLIST": model.URL(),
		"MAX_ACTIVE_DELIBERATIONS": strconv.Itoa(2 * opts.capacityN)}
	settings, err := statusCallback(fnEnv, model.URL())
	if err != nil {
		return nil, err
	}
	maps.Copy(settings, capacityRunnerSettings)
	if err := deployRunner(ctx, log, client, redisURL, prefixCapacity, settings); err != nil {
		return nil, err
	}
	body := []byte(strings.Replace(executeBody, "http://127.0.0.1:8000", model.URL(), 1))
	fns, err := startFunctions(ctx, bin, fnEnv, body)
	if err != nil {
		return nil, err
	}
	defer fns.close()
	serve, err := capacityServe(ctx, fns, model, mem, redisURL, opts)
	if err != nil {
		return nil, fmt.Errorf("capacity serve: %w", err)
	}
	res.ways = append(res.ways, serve)
	log.Info("capacity", "way", serve.name, "wall", serve.wall.String(), "peak_calls", serve.peakCalls,
		"completed", serve.completed, "failed", serve.failed, "loop_lag_p99", serve.loopLagP99.String())
	return res, nil
}

// capacityFloor runs capacity_floor.py once and reads its answer.
func capacityFloor(ctx context.Context, model *modelserver.Server, mem *headMemory, opts options) (capacityWay, error) {
	w := capacityWay{name: "one asyncio process (floor)", loopLagP99: -1}
	cmd := exec.CommandContext(ctx, filepath.Join(".venv", "bin", "python"), filepath.Join("deploy", "bench", "capacity_floor.py"),
		model.URL(), strconv.Itoa(opts.capacityN), "m1", "m2", "m3", "--judge", "judge")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	base := mem.rss(nil)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return w, fmt.Errorf("start the floor (make venv): %w", err)
	}
	stop := mem.peak([]int{cmd.Process.Pid})
	err := cmd.Wait()
	w.extraRSS = max(stop()-base, 0)
	if err != nil {
		return w, fmt.Errorf("%w: %s", err, tailOf(stderr.String()))
	}
	var answer struct {
		Wall      float64 `json:"wall_s"`
		Completed int     `json:"completed"`
		Failed    int     `json:"failed"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &answer); err != nil {
		return w, fmt.Errorf("floor answer %q: %w", stdout.String(), err)
	}
	w.wall = time.Duration(answer.Wall * float64(time.Second))
	w.completed, w.failed = answer.Completed, answer.Failed
	w.peakCalls = peakInFlight(model.Requests(), start, opts.capacityLatency)
	return w, nil
}

// capacityServe submits the burst to the execute function and waits until the store counts every
// deliberation finished; the wall time runs from the first submit to that moment.
func capacityServe(ctx context.Context, fns *functions, model *modelserver.Server, mem *headMemory, redisURL string, opts options) (capacityWay, error) {
	w := capacityWay{name: "functions + Serve runner"}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return w, err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.Options{Prefix: prefixCapacity})
	ctx, cancel := context.WithTimeout(ctx, capacityTimeout)
	defer cancel()

	base := mem.rss(fns.pids())
	stop := mem.peak(fns.pids())
	start := time.Now()
	if err := submitBurst(ctx, fns, opts.capacityN); err != nil {
		stop()
		return w, err
	}
	for {
		st, _, err := store.Stats(ctx)
		if err != nil {
			stop()
			return w, err
		}
		if finished := st.CompletedDeliberations + st.FailedDeliberations + st.CancelledDeliberations; finished >= int64(opts.capacityN) {
			w.wall = time.Since(start)
			w.completed, w.failed = int(st.CompletedDeliberations), int(st.FailedDeliberations+st.CancelledDeliberations)
			break
		}
		select {
		case <-ctx.Done():
			stop()
			return w, fmt.Errorf("%d of %d finished: %w", st.CompletedDeliberations+st.FailedDeliberations, opts.capacityN, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.extraRSS = max(stop()-base, 0)
	w.peakCalls = peakInFlight(model.Requests(), start, opts.capacityLatency)
	lag, err := runnerLoopLag(ctx, rdb, time.Now())
	if err != nil {
		return w, err
	}
	w.loopLagP99 = lag
	return w, nil
}

// runnerLoopLag waits until every runner replica has written its figures after since, then
// answers the highest event-loop lag p99 among them.
func runnerLoopLag(ctx context.Context, rdb *redis.Client, since time.Time) (time.Duration, error) {
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefixCapacity})
	if err != nil {
		return 0, err
	}
	until := time.Now().Add(capacityFiguresWait)
	for {
		replicas, err := q.Replicas(ctx)
		if err != nil {
			return 0, err
		}
		var worst float64
		fresh := len(replicas) > 0
		for _, f := range replicas {
			fresh = fresh && f.UpdatedMs >= since.UnixMilli()
			worst = max(worst, f.LoopLagP99Ms)
		}
		if fresh || time.Now().After(until) {
			if len(replicas) == 0 {
				return 0, errors.New("no runner replica wrote its figures")
			}
			return time.Duration(worst * float64(time.Millisecond)), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// submitBurst posts n executes, capacitySubmitters at a time.
func submitBurst(ctx context.Context, fns *functions, n int) error {
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range capacitySubmitters {
		wg.Go(func() {
			for range next {
				var sub struct {
					ID string `json:"deliberation_id"`
				}
				if err := fns.call(ctx, http.MethodPost, fns.execute.url+"/", fns.body, http.StatusAccepted, &sub); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d executes refused, the first: %w", len(errs), n, errors.Join(errs[0]))
	}
	return nil
}

// peakInFlight is the most calls in flight at once among the requests that arrived since start,
// each taking latency (the fake's delay; the answer itself takes microseconds).
func peakInFlight(reqs []modelserver.Request, start time.Time, latency time.Duration) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range reqs {
		if r.Path == modelserver.ChatPath && !r.At.Before(start) {
			edges = append(edges, edge{r.At, 1}, edge{r.At.Add(latency), -1})
		}
	}
	// Ends before starts at the same instant: a call that ends as another begins is not overlap.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	peak, now := 0, 0
	for _, e := range edges {
		now += e.delta
		peak = max(peak, now)
	}
	return peak
}

// tailOf is the last lines of a process's output, for an error.
func tailOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-5, 0):], "\n")
}
