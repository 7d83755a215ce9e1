package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// The runner-traced scenario (-only runner-traced): serve-mode deliberations end to end with
// tracing off and with every deliberation traced (the functions and the runner exporting to the
// bench's local OTLP receiver), interleaved one by one on one Ray head so both see the same
// moments of a shared machine. One runner serves both: it samples only what comes with a sampled
// traceparent (parentbased, ratio 0 for new traces), so the untraced functions' deliberations,
// which bring none, make no span there either.

const prefixTraced = "bench-dispatch-traced"

// minTracedRuns is the fewest deliberations each side runs (more with -dispatch-runs): a p99 of
// ten would be the slowest of ten, the machine's more than tracing's.
const minTracedRuns = 100

// runnerTracedEnv is the runner's: spans to the receiver, for traced callers only.
func runnerTracedEnv(url string) map[string]string {
	return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url,
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
}

// tracedDispatchResult is the scenario's outcome: each side's sequential deliberations, sorted.
type tracedDispatchResult struct {
	off, on []time.Duration
	exports int64
	runs    int
}

func runTracedDispatch(ctx context.Context, log *slog.Logger, opts options, bin func(string) string, redisURL string, sink *otlpSink) (*tracedDispatchResult, error) {
	model, err := modelserver.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer model.Close()
	head, err := startRayHead(ctx, log)
	if err != nil {
		return nil, err
	}
	defer head.stop(log)
	client, err := rayserve.NewClient(head.address, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	if err := deployRunnerWith(ctx, log, client, redisURL, prefixTraced, nil, runnerTracedEnv(sink.url)); err != nil {
		return nil, err
	}
	body := []byte(strings.Replace(executeBody, "http://127.0.0.1:8000", model.URL(), 1))
	env := func(extra map[string]string) map[string]string {
		e := map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefixTraced, "RAY_DISPATCH": "serve",
			"RAY_ADDRESS": head.address, "RAY_SERVE_DEPLOY": "false", "VLLM_URL_ALLOWLIST": model.URL()}
		maps.Copy(e, extra)
		return e
	}
	off, err := startFunctions(ctx, bin, env(nil), body)
	if err != nil {
		return nil, err
	}
	defer off.close()
	on, err := startFunctions(ctx, bin, env(tracedEnv(sink.url)), body)
	if err != nil {
		return nil, err
	}
	defer on.close()
	res := &tracedDispatchResult{runs: max(opts.dispatchRuns, minTracedRuns)}
	before := sink.exports.Load()
	for i := range 2 * (dispatchWarmups + res.runs) {
		side, runs := off, &res.off
		if i%2 == 1 {
			side, runs = on, &res.on
		}
		octx, cancel := context.WithTimeout(ctx, oneTimeout)
		d, err := side.one(octx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("runner-traced: %w", err)
		}
		if i >= 2*dispatchWarmups {
			*runs = append(*runs, d)
		}
	}
	slices.Sort(res.off)
	slices.Sort(res.on)
	res.exports = sink.exports.Load() - before
	log.Info("runner traced", "off_p50", quantile(res.off, 0.5).String(), "on_p50", quantile(res.on, 0.5).String(),
		"off_p99", quantile(res.off, 0.99).String(), "on_p99", quantile(res.on, 0.99).String(), "exports", res.exports)
	return res, nil
}

func (r *tracedDispatchResult) header() []string {
	return []string{"serve deliberation", "p50", "p90", "p99"}
}

func (r *tracedDispatchResult) rows() [][]string {
	row := func(label string, runs []time.Duration, vsOff bool) []string {
		cells := []string{label}
		for _, q := range []float64{0.5, 0.9, 0.99} {
			cell := seconds(quantile(runs, q).Seconds())
			if base := quantile(r.off, q); vsOff && base > 0 {
				cell += fmt.Sprintf(" (×%s)", ratio(quantile(runs, q).Seconds()/base.Seconds()))
			}
			cells = append(cells, cell)
		}
		return cells
	}
	p99 := quantile(r.on, 0.99).Seconds() / max(quantile(r.off, 0.99).Seconds(), 1e-9)
	return [][]string{
		row("tracing off", r.off, false),
		row("tracing on (sampling 1.0, local OTLP receiver)", r.on, true),
		{"target", "", "", fmt.Sprintf("p99 within ×%.1f of off: %s", tracedTolerance, met(p99 <= tracedTolerance))},
	}
}

func (r *tracedDispatchResult) notes() []string {
	return []string{fmt.Sprintf("Runner traced: the dispatch scenario's deliberation (3 agents and the judge, fake model server) in serve mode on one local Ray head, "+
		"timed as a caller sees it (POST to execute, GET of status every %d ms until completed); %d warm-ups each, then %d each, alternating tracing off and on. "+
		"Tracing on: the functions sample every request, and the runner continues the trace (queue wait, deliberation, agents and calls, judge, result, wake-up), "+
		"all exported to the bench's OTLP receiver (%d exports); tracing off: no endpoint in the functions, and the runner samples nothing that comes without a trace.",
		onePoll.Milliseconds(), dispatchWarmups, r.runs, r.exports)}
}
