package main

import (
	"context"
	"net/http"
	"strconv"
)

// target is one function process under load and what the runs measured of it.
type target struct {
	label string
	fn    string
	// stored is the number of deliberations in the keyspace of an active-jobs target.
	stored int
	// floor marks the calibration target, which has no target of its own.
	floor bool
	proc  *process
	// protocol is how the target is called; an RPC target has its client, and the JSON target of
	// the same use case lists it among its twins (protocols.go).
	protocol protocol
	rpc      *rpcClient
	twins    []*target
	open     []openResult
	sat      []satResult
	rssAfter int64
	// env is added to the process's environment (the tracing-on target's OTLP settings);
	// tracingOff is, for that target, the execute target it is compared with.
	env        map[string]string
	tracingOff *target
}

// scenario is one measured load: its targets, its requests, and its rate and counts.
type scenario struct {
	targets    []*target
	next       calls
	rate       int
	count      int
	saturation int
	// stealRetries counts the open-loop runs repeated because the hypervisor took the CPU.
	stealRetries int
}

// profileName is the file of the target process's CPU profile (-profile): one per process, the
// floor's and the RPC twins' apart from the JSON route's of the same function and keyspace.
func (t *target) profileName(prefix string) string {
	name := t.fn + "-" + prefix
	switch {
	case t.floor:
		name += "-floor"
	case t.protocol != protoJSON:
		name += "-" + t.protocol.short()
	}
	return name + ".prof"
}

func (sc *scenario) pids() []int {
	out := make([]int, len(sc.targets))
	for i, t := range sc.targets {
		out[i] = t.proc.pid()
	}
	return out
}

// startScenarios launches the function processes and describes each scenario's requests. The
// active-jobs pages of both history sizes alternate within one run, so both see the same moments
// of contention on a shared machine and their comparison is fair.
func startScenarios(ctx context.Context, opts options, w world, start func(t *target, prefix string) (*process, error)) ([]*scenario, error) {
	var out []*scenario
	launch := func(t *target, prefix string) error {
		p, err := start(t, prefix)
		t.proc = p
		return err
	}
	wanted := func(key string) bool { return opts.only == nil || opts.only[key] }
	single := func(key, name, fn, prefix string, next func(url string, i int) call) error {
		if !wanted(key) {
			return nil
		}
		t := &target{label: name, fn: fn, floor: key == "floor"}
		if err := launch(t, prefix); err != nil {
			return err
		}
		out = append(out, &scenario{targets: []*target{t}, rate: opts.rate, count: opts.requests,
			saturation: opts.saturation, next: func(i int) call { return next(t.proc.url, i) }})
		if !opts.rpc || t.floor {
			return nil
		}
		twins, err := rpcTwins(opts, t, prefix, launch)
		out = append(out, twins...)
		return err
	}
	// The floor of the setup: the same generator, client and HTTP server on a path that does no
	// work. Latency above it is the functions' own; a floor near a target means the machine, not
	// the code, decides that target.
	if err := single("floor", "floor: liveness of get-stats (no Redis)", "get-stats", prefixRead, func(url string, _ int) call {
		return call{method: http.MethodGet, url: url + "/health/liveness", want: http.StatusOK}
	}); err != nil {
		return out, err
	}
	if err := single("stats", "get-stats", "get-stats", prefixRead, func(url string, _ int) call {
		return call{method: http.MethodGet, url: url + "/", want: http.StatusOK}
	}); err != nil {
		return out, err
	}
	if err := single("status", "status of a finished deliberation", "get-deliberation-status", prefixRead, func(url string, i int) call {
		return call{method: http.MethodGet, url: url + "/" + w.finished[i%len(w.finished)], want: http.StatusOK}
	}); err != nil {
		return out, err
	}
	if err := single("execute", "execute (fake Ray Jobs API)", "execute-deliberation", prefixExecute, func(url string, _ int) call {
		return call{method: http.MethodPost, url: url + "/", body: []byte(executeBody), want: http.StatusAccepted}
	}); err != nil {
		return out, err
	}
	// The same execute with every request traced and exported, in the turns right after it.
	if wanted("traced") && opts.otlpURL != "" {
		t := &target{label: "execute, tracing on (sampling 1.0, local OTLP receiver)", fn: "execute-deliberation",
			env: tracedEnv(opts.otlpURL)}
		for _, sc := range out {
			if sc.targets[0].fn == "execute-deliberation" && sc.targets[0].protocol == protoJSON {
				t.tracingOff = sc.targets[0]
			}
		}
		if err := launch(t, prefixExecute); err != nil {
			return out, err
		}
		out = append(out, &scenario{targets: []*target{t}, rate: opts.rate, count: opts.requests, saturation: opts.saturation,
			next: func(int) call {
				return call{method: http.MethodPost, url: t.proc.url + "/", body: []byte(executeBody), want: http.StatusAccepted}
			}})
	}
	if !wanted("jobs") {
		return out, ctx.Err()
	}
	jobs := &scenario{rate: opts.jobsRate, count: opts.jobsCount, saturation: opts.jobsCount}
	for _, n := range opts.history {
		t := &target{label: "active jobs, " + thousands(n) + " stored", fn: "get-active-jobs", stored: n}
		if err := launch(t, prefixHistory(n)); err != nil {
			return out, err
		}
		jobs.targets = append(jobs.targets, t)
	}
	jobs.next = func(i int) call {
		k := i % len(jobs.targets)
		t := jobs.targets[k]
		cursors := w.cursors[t.stored]
		url := t.proc.url + "/?limit=" + strconv.Itoa(jobsLimit)
		// Both targets walk the same sequence of cursor positions.
		if c := cursors[(i/len(jobs.targets))%len(cursors)]; c != "" {
			url += "&cursor=" + c
		}
		return call{target: k, method: http.MethodGet, url: url, want: http.StatusOK}
	}
	out = append(out, jobs)
	return out, ctx.Err()
}
