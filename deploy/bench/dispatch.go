package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// The dispatch scenario runs the same deliberation (executeBody: three agents, then the judge) four
// ways on one real local Ray head, against the fake model server answering at once, so the
// figures are the dispatch's own: the functions in serve mode (the runner on Ray Serve), the
// functions in jobs mode (a Ray job per deliberation), the seed-style driver (an actor per agent)
// and warm Ray tasks from a driver (the floor).

// way is one way of running the deliberation.
type way interface {
	// one runs a deliberation end to end and says how long it took.
	one(ctx context.Context) (time.Duration, error)
	// burst runs n at once and says when the last one was done.
	burst(ctx context.Context, n int) (time.Duration, error)
	// pids are the processes besides the head whose memory counts: the functions, or the driver.
	pids() []int
	close()
}

// Key prefixes of the functions' ways; the runner reads the serve one.
const (
	prefixServe = "bench-dispatch-serve"
	prefixJobs  = "bench-dispatch-jobs"
)

const (
	dispatchWarmups = 2
	// oneTimeout and burstTimeout bound a deliberation and a burst: a jobs-mode deliberation takes
	// about 5 s on 2 cores, 20 of them at once about a minute.
	oneTimeout   = 2 * time.Minute
	burstTimeout = 5 * time.Minute
	// runnerDeployTimeout bounds Serve's start of the runner, seconds on a quiet machine.
	runnerDeployTimeout = 3 * time.Minute
)

// wayResult is what one way measured.
type wayResult struct {
	name string
	// runs are the sequential deliberations after the warm-ups, sorted.
	runs             []time.Duration
	burst            time.Duration
	baseRSS, peakRSS int64
}

// extraRSS is the burst's peak above the memory before it; a collection at the start of a burst
// can make the difference negative, which is none.
func (r wayResult) extraRSS() int64 { return max(r.peakRSS-r.baseRSS, 0) }

// dispatchResult is the scenario's outcome, for the report.
type dispatchResult struct {
	ways      []wayResult
	burstSize int
	headStart time.Duration
}

// runDispatch starts the model server and the head, measures the four ways one after the other,
// and stops the head whatever happened.
func runDispatch(ctx context.Context, log *slog.Logger, opts options, bin func(string) string, redisURL string) (*dispatchResult, error) {
	// The tests' fake model server (internal/fakes/modelserver), in the bench process.
	model, err := modelserver.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer model.Close()
	started := time.Now()
	head, err := startRayHead(ctx, log)
	if err != nil {
		return nil, err
	}
	defer head.stop(log)
	res := &dispatchResult{burstSize: opts.dispatchBurst, headStart: time.Since(started)}
	mem := newHeadMemory(head.tempDir)
	// The execute scenario's request, its agents and judge pointed at the fake model server.
	body := []byte(strings.Replace(executeBody, "http://127.0.0.1:8000", model.URL(), 1))
	env := func(dispatch, prefix string) map[string]string {
		return map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefix, "RAY_DISPATCH": dispatch, "RAY_ADDRESS": head.address, "RAY_SERVE_DEPLOY": "false",
			"VLLM_URL_ALLOWLIST": model.URL()}
	}
	client, err := rayserve.NewClient(head.address, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	steps := []struct {
		name  string
		start func() (way, error)
		// after frees the head of what the way left running, so the next way's baseline is the
		// head alone.
		after func()
	}{
		{"serve", func() (way, error) {
			fnEnv := env("serve", prefixServe)
			limits, err := statusCallback(fnEnv, model.URL())
			if err != nil {
				return nil, err
			}
			if err := deployRunner(ctx, log, client, redisURL, prefixServe, limits); err != nil {
				return nil, err
			}
			return startFunctions(ctx, bin, fnEnv, body)
		}, func() {
			if err := client.DeleteAll(ctx); err != nil {
				log.Warn("runner not deleted", "error", err.Error())
			}
		}},
		{"jobs", func() (way, error) { return startFunctions(ctx, bin, env("jobs", prefixJobs), body) }, nil},
		{"actors", func() (way, error) { return startDriver(ctx, "actors", head.gcs, model.URL()) }, nil},
		{"tasks", func() (way, error) { return startDriver(ctx, "tasks", head.gcs, model.URL()) }, nil},
	}
	for _, s := range steps {
		w, err := s.start()
		if err != nil {
			return nil, fmt.Errorf("dispatch %s: %w", s.name, err)
		}
		r, err := measureWay(ctx, log, s.name, w, mem, opts.dispatchRuns, opts.dispatchBurst)
		w.close()
		if s.after != nil {
			s.after()
		}
		if err != nil {
			return nil, fmt.Errorf("dispatch %s: %w", s.name, err)
		}
		res.ways = append(res.ways, r)
	}
	return res, nil
}

// measureWay runs the warm-ups, then runs deliberations one after the other, then burst of them at
// once while sampling the memory of the head and of the way's processes.
func measureWay(ctx context.Context, log *slog.Logger, name string, w way, mem *headMemory, runs, burst int) (wayResult, error) {
	r := wayResult{name: name}
	for i := range dispatchWarmups + runs {
		octx, cancel := context.WithTimeout(ctx, oneTimeout)
		d, err := w.one(octx)
		cancel()
		if err != nil {
			return r, err
		}
		if i >= dispatchWarmups {
			r.runs = append(r.runs, d)
		}
	}
	slices.Sort(r.runs)
	r.baseRSS = mem.rss(w.pids())
	stop := mem.peak(w.pids())
	bctx, cancel := context.WithTimeout(ctx, burstTimeout)
	wall, err := w.burst(bctx, burst)
	cancel()
	r.peakRSS = stop()
	r.burst = wall
	if err != nil {
		return r, err
	}
	log.Info("dispatch", "way", name, "p50", quantile(r.runs, 0.5).String(), "burst", wall.String(), "peak_extra_rss", mib(r.extraRSS()))
	return r, nil
}

// deployRunner puts the deliberation runner on the head as make run does (deploy/local/stack),
// reading the bench's Redis under the functions' key prefix.
func deployRunner(ctx context.Context, log *slog.Logger, client *rayserve.Client, redisURL, prefix string, settings map[string]any) error {
	return deployRunnerWith(ctx, log, client, redisURL, prefix, settings, nil)
}

// deployRunnerWith is deployRunner with variables for the replicas (the tracing scenario's).
func deployRunnerWith(ctx context.Context, log *slog.Logger, client *rayserve.Client, redisURL, prefix string, settings map[string]any,
	env map[string]string) error {
	name, zip, err := rayjob.Package()
	if err != nil {
		return err
	}
	start := time.Now()
	args := map[string]any{"redis_url": redisURL, "key_prefix": prefix}
	maps.Copy(args, settings)
	app := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, Args: args, Env: env}
	if err := client.DeployRunner(ctx, app, name, zip, runnerDeployTimeout); err != nil {
		return fmt.Errorf("deliberation runner: %w", err)
	}
	log.Info("deliberation runner running", "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
