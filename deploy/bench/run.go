package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/transport"
)

// run is the whole bench: set up, measure starts, drive the scenarios, report.
func run(ctx context.Context, opts options, log *slog.Logger) error {
	rep := report{machine: describeMachine(), loadBefore: loadAverage(), command: command(), opts: opts}
	log.Info("measuring the machine's scheduling jitter", "for", jitterSpan.String())
	rep.jitter = measureJitter()
	if opts.build {
		log.Info("building the functions", "into", opts.binDir)
		var tags []string
		if opts.profileDir != "" {
			tags = []string{"profile"}
		}
		// go build caches, so an unchanged tree is quick.
		build := launcher.GoBuild{Out: opts.binDir, Tags: tags, Packages: launcher.FunctionPackages()}
		if err := launcher.Build(ctx, build); err != nil {
			return fmt.Errorf("%w (run from the repository root)", err)
		}
	}
	dir, err := os.MkdirTemp("", "rayexec-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	redis, err := startRedis(dir)
	if err != nil {
		return err
	}
	defer redis.stop()
	ray, err := newFakeRay()
	if err != nil {
		return err
	}
	defer ray.Close()
	env := func(fn, prefix string) map[string]string {
		e := maps.Clone(opts.extraEnv)
		if e == nil {
			e = map[string]string{}
		}
		e["REDIS_URL"], e["REDIS_KEY_PREFIX"] = redis.url(), prefix
		if fn == "execute-deliberation" || fn == "get-deliberation-status" {
			// Execute's figures are measured against the fake Jobs API.
			e["RAY_DISPATCH"], e["RAY_ADDRESS"] = "jobs", ray.URL()
		}
		if fn == "execute-deliberation" {
			// docs/performance.md raises the admission limit for the run: the load keeps thousands
			// active.
			e["MAX_ACTIVE_DELIBERATIONS"], e["VLLM_URL_ALLOWLIST"] = "1000000", "http://127.0.0.1:8000" // executeBody's model server
		}
		return e
	}
	bin := func(fn string) string { return filepath.Join(opts.binDir, fn) }

	w, err := seed(ctx, log, redis.url(), opts)
	if err != nil {
		return err
	}
	for _, f := range transport.Functions {
		fn := string(f)
		prefix := map[string]string{"get-active-jobs": prefixHistory(opts.history[0]), "execute-deliberation": prefixExecute}[fn]
		if prefix == "" {
			prefix = prefixRead
		}
		log.Info("measuring starts", "function", fn, "starts", opts.starts)
		s, err := measureStarts(ctx, bin(fn), env(fn, prefix), opts.starts)
		if err != nil {
			return err
		}
		rep.starts = append(rep.starts, s)
	}

	var sink *otlpSink
	if opts.traced {
		if sink, err = startOTLPSink(); err != nil {
			return err
		}
		defer sink.close()
		opts.otlpURL = sink.url
		defer func() { log.Info("otlp receiver", "exports", sink.exports.Load(), "bytes", sink.bytes.Load()) }()
	}
	var procs []*process
	scenarios, err := startScenarios(ctx, opts, w, func(t *target, prefix string) (*process, error) {
		e := env(t.fn, prefix)
		maps.Copy(e, t.env)
		if opts.profileDir != "" {
			e["CPU_PROFILE"] = filepath.Join(opts.profileDir, t.profileName(prefix))
		}
		p, err := launch(ctx, bin(t.fn), e)
		if p != nil {
			procs = append(procs, p)
		}
		return p, err
	})
	defer func() {
		closeRPC(scenarios)
		for _, p := range procs {
			p.stop()
		}
	}()
	if err != nil {
		return err
	}
	if err := measure(ctx, log, opts, scenarios, redis.cmd.Process.Pid); err != nil {
		return err
	}
	if opts.only == nil || opts.only["sentinel"] {
		if rep.shapes, err = runShapes(ctx, log, opts, bin, env, redis.url(), w.finished); err != nil {
			return err
		}
	}
	// Last: a Ray head takes cores and memory the figures above must not share.
	if opts.only == nil || opts.only["dispatch"] {
		if rep.dispatch, err = runDispatch(ctx, log, opts, bin, redis.url()); err != nil {
			return err
		}
	}
	if opts.traced && (opts.only == nil || opts.only["runner-traced"]) {
		if rep.runnerTraced, err = runTracedDispatch(ctx, log, opts, bin, redis.url(), sink); err != nil {
			return err
		}
	}
	if opts.only == nil || opts.only["capacity"] {
		if rep.capacity, err = runCapacity(ctx, log, opts, bin, redis.url()); err != nil {
			return err
		}
	}
	if opts.only == nil || opts.only["autoscale"] {
		if rep.autoscale, err = runAutoscale(ctx, log, opts, bin, redis.url()); err != nil {
			return err
		}
	}
	// Only when asked for: two more heads and their bursts add minutes to a run.
	if opts.only["clusters"] {
		if rep.clusters, err = runClusters(ctx, log, opts, bin, redis.url()); err != nil {
			return err
		}
	}
	rep.scenarios, rep.loadAfter = scenarios, loadAverage()
	rep.print(os.Stdout)
	if opts.out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(opts.out, []byte(rep.markdown()), 0o644)
}

// measure warms every scenario up, then runs each one opts.runs times (open loop, then
// saturation), the scenarios taking turns so that a slow minute of a shared machine spreads over
// all of them, and finally reads each process's RSS.
func measure(ctx context.Context, log *slog.Logger, opts options, scenarios []*scenario, redisPID int) error {
	client := newClient()
	for _, sc := range scenarios {
		// Connections, the scripts in Redis's cache, the function's heap at its working size.
		_ = openLoop(ctx, client, sc.next, len(sc.targets), sc.rate, sc.rate/2)
	}
	for r := range opts.runs {
		for _, sc := range scenarios {
			if err := ctx.Err(); err != nil {
				return err
			}
			// This process collects between turns, where nothing is timed, so that no turn
			// reaches the memory limit (main) while it is timed.
			runtime.GC()
			before := limitCollections()
			open, steal := stealAwareOpenLoop(ctx, client, sc, opts.maxSteal)
			sat, err := saturate(ctx, client, sc.next, opts.workers, sc.saturation, opts.satLimit, sc.pids(), redisPID)
			if err != nil {
				return err
			}
			if n := limitCollections() - before; n > 0 {
				log.Warn("the bench process collected garbage during timed runs: raise benchMemoryLimit", "run", r+1, "target", sc.targets[0].label, "collections", n)
			}
			for i, t := range sc.targets {
				o, s := open[i], sat[i]
				o.steal = steal
				t.open, t.sat = append(t.open, o), append(t.sat, s)
				log.Info("run", "n", r+1, "target", t.label, "p50", o.p50.String(), "p99", o.p99.String(), "steal", fmt.Sprintf("%.1f%%", 100*steal),
					"errors", o.errors+s.errors, "saturation_rps", int(s.throughput), "per_core_rps", int(s.perCore))
			}
		}
	}
	for _, sc := range scenarios {
		for _, t := range sc.targets {
			rss, err := rssBytes(t.proc.pid())
			if err != nil {
				return err
			}
			t.rssAfter = rss
		}
	}
	return nil
}

// limitCollections counts the collections the runtime started on its own, at the memory limit.
func limitCollections() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC - m.NumForcedGC
}

// stealAwareOpenLoop runs one open-loop run of sc. A run during which the hypervisor took more
// than maxSteal of the machine's CPU measured a smaller machine than the one stated: it is
// repeated, at most maxStealRetries times, and the retries are counted in the table.
func stealAwareOpenLoop(ctx context.Context, client *http.Client, sc *scenario, maxSteal float64) ([]openResult, float64) {
	for retry := 0; ; retry++ {
		ticks := readCPUTicks()
		open := openLoop(ctx, client, sc.next, len(sc.targets), sc.rate, sc.count)
		steal := stealShare(ticks, readCPUTicks())
		if steal <= maxSteal || retry == maxStealRetries || ctx.Err() != nil {
			return open, steal
		}
		sc.stealRetries++
	}
}

// maxStealRetries bounds the repeats of one run, so a machine that stays busy still finishes.
const maxStealRetries = 3

// newFakeRay is the in-process fake Jobs API; every job runs for a second and succeeds with a
// result line, as a healthy cluster's would.
func newFakeRay() (*raytest.Server, error) {
	res, err := benchResult()
	if err != nil {
		return nil, err
	}
	line, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	ray := raytest.New()
	ray.SetDefaultOutcome(raytest.Succeeds(time.Second, "RAY_EXECUTOR_RESULT v1 "+string(line)+"\n"))
	return ray, nil
}
