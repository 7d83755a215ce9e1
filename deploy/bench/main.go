// Command bench is the load generator behind `make bench` (docs/performance.md). It builds the four
// function binaries, starts a real redis-server and the in-process fake of the Ray Jobs API on
// 127.0.0.1, measures how fast each function starts (exec to the first readiness 200) and how much
// memory it holds, then drives every scenario as an open-loop constant-rate load (latency measured
// from the scheduled send time, so a slow answer cannot hide the requests queued behind it) and as
// a closed-loop saturation run, several times, and prints one table of medians beside the targets,
// then the same use cases over gRPC and Connect beside their JSON routes (protocols.go). The same
// tables are written as Markdown for the README.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// options are the knobs of one bench run; the defaults keep `make bench` well under 10 minutes on
// a 2-core machine.
type options struct {
	binDir     string
	build      bool
	out        string
	runs       int
	starts     int
	rate       int
	requests   int
	jobsRate   int
	jobsCount  int
	workers    int
	saturation int
	satLimit   time.Duration
	history    []int
	only       map[string]bool
	// rpc measures get-stats and execute over RayExecutorService too (gRPC and Connect), beside
	// their JSON routes.
	rpc bool
	// extraEnv is passed to every function, e.g. GODEBUG=gctrace=1 or GOGC, to study the runtime.
	extraEnv   map[string]string
	cpuProfile string
	// maxSteal is the CPU steal above which an open-loop run is repeated.
	maxSteal float64
	// profileDir, when set, builds the functions with the profile tag and has each scenario's
	// function process write its CPU profile there.
	profileDir string
	// The dispatch scenario: sequential deliberations per way, and how many start at once.
	dispatchRuns, dispatchBurst int
	// The capacity scenario: deliberations in the burst, and the model server's latency.
	capacityN       int
	capacityLatency time.Duration
	// The autoscaling scenario: deliberations in the step burst, and the model server's latency.
	autoscaleN       int
	autoscaleLatency time.Duration
	// The clusters scenario: deliberations in the burst (at the capacity scenario's latency).
	clustersN int
	// The sentinel scenario: its open-loop rate (both shapes together) and requests per run.
	shapesRate, shapesCount int
	// traced adds execute with every request traced to a local OTLP receiver at otlpURL.
	traced  bool
	otlpURL string
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.binDir, "bin", "bin", "directory of the function binaries")
	flag.BoolVar(&o.build, "build", true, "build the function binaries into -bin first (false: take them as they are)")
	flag.StringVar(&o.out, "out", "bin/bench.md", "file the Markdown table is written to (empty: none)")
	flag.IntVar(&o.runs, "runs", 3, "runs of every scenario; the table shows their medians")
	flag.IntVar(&o.starts, "starts", 20, "starts of each function for exec-to-readiness")
	flag.IntVar(&o.rate, "rate", 1000, "open-loop request rate of get-stats, status and execute (requests/s)")
	flag.IntVar(&o.requests, "requests", 4000, "requests per open-loop run of get-stats, status and execute")
	flag.IntVar(&o.jobsRate, "jobs-rate", 200, "open-loop request rate of the active-jobs pages, both history sizes together (requests/s)")
	flag.IntVar(&o.jobsCount, "jobs-requests", 1200, "requests per run of the active-jobs pages, both history sizes together")
	flag.IntVar(&o.workers, "workers", 16, "concurrent workers of a saturation run")
	flag.IntVar(&o.saturation, "saturation", 4000, "requests per saturation run")
	flag.DurationVar(&o.satLimit, "saturation-limit", 4*time.Second, "longest a saturation run may take")
	flag.IntVar(&o.dispatchRuns, "dispatch-runs", 10, "dispatch scenario: sequential deliberations measured per way, after 2 warm-ups")
	flag.IntVar(&o.dispatchBurst, "dispatch-burst", 20, "dispatch scenario: deliberations started at once")
	flag.IntVar(&o.capacityN, "capacity-n", 1000, "capacity scenario: deliberations in the burst")
	flag.DurationVar(&o.capacityLatency, "capacity-latency", 2*time.Second, "capacity scenario: how long the fake model server takes to answer every call")
	flag.IntVar(&o.clustersN, "clusters-n", 500, "clusters scenario: deliberations in the burst, on one Ray cluster then on two (model latency: -capacity-latency)")
	flag.IntVar(&o.autoscaleN, "autoscale-n", 400, "autoscaling scenario: deliberations in the step burst")
	flag.DurationVar(&o.autoscaleLatency, "autoscale-latency", 2*time.Second, "autoscaling scenario: how long the fake model server takes to answer every call")
	flag.IntVar(&o.shapesRate, "sentinel-rate", 400, "sentinel scenario: open-loop rate of execute, then of status, both shapes together (requests/s)")
	flag.IntVar(&o.shapesCount, "sentinel-requests", 3000, "sentinel scenario: requests per run, both shapes together")
	only := flag.String("only", "", "comma-separated scenarios to run (floor, stats, status, execute, traced, jobs, sentinel, dispatch, runner-traced, capacity, autoscale, clusters; empty: all but clusters), for profiling one; stats and execute bring their RPC rows (-rpc)")
	flag.BoolVar(&o.traced, "traced", true, "measure execute with tracing on too (sampling 1.0, exported to a local OTLP receiver), beside tracing off in the same run")
	flag.BoolVar(&o.rpc, "rpc", true, "measure stats and execute over RayExecutorService too (native gRPC over h2c, Connect over HTTP/1.1), beside their JSON routes in the same run")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile (load generator, fake Ray) to the file")
	flag.Float64Var(&o.maxSteal, "max-steal", 0.05, "repeat (up to 3 times) an open-loop run during which the hypervisor stole more than this share of the CPU")
	flag.StringVar(&o.profileDir, "profile", "", "build the functions with the profile tag and write each scenario process's CPU profile into this directory")
	extra := flag.String("env", "", "comma-separated KEY=VALUE settings added to every function's environment (e.g. GOGC=200)")
	flag.Parse()
	o.history = []int{1_000, 100_000}
	if *only != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(name)] = true
		}
	}
	if *extra != "" {
		o.extraEnv = map[string]string{}
		for _, kv := range strings.Split(*extra, ",") {
			k, v, _ := strings.Cut(kv, "=")
			o.extraEnv[strings.TrimSpace(k)] = v
		}
	}
	return o
}

// benchMemoryLimit is where this process collects garbage: see main.
const benchMemoryLimit = 1 << 30

func main() {
	opts := parseFlags()
	// The generator and the fake Ray Jobs API (which keeps every job, as Ray does) share this
	// process: a collection of its growing heap would pause them, and that pause would show as the
	// functions' latency. Collect between the runs (measure) and otherwise only near a limit no
	// run reaches.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(benchMemoryLimit)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", "error", err.Error())
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, opts, log); err != nil {
		log.Error("bench failed", "error", err.Error())
		os.Exit(1)
	}
	log.Info("bench done", "took", time.Since(start).Round(time.Second).String())
}

// command is how this run was invoked, for the table.
func command() string {
	return "make bench  (" + strings.Join(append([]string{"go run ./deploy/bench"}, os.Args[1:]...), " ") + ")"
}
