package wiring

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	fn "knative.dev/func-go/http"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// Env is what Wire gets to build a function's backend: the configuration, the logger, and the
// registry the adapters add their own metrics to (served at /metrics with the request metrics).
type Env struct {
	Config config.Config
	// Ports are the ports of the function's catalogue entry: the functions that dispatch
	// deliberations and watch them (execute, status, combined) have Ray and events; the others
	// only read Redis.
	Ports   transport.Ports
	Log     *slog.Logger
	Metrics prometheus.Registerer
}

// Wire builds a function's backend from its environment. The returned close releases what it
// opened when the function stops. Adapters is the production Wire; tests pass their own.
type Wire func(ctx context.Context, env Env) (transport.Backend, func(context.Context) error, error)

// Instance is a function as func-go runs it. func-go starts listening first and then calls
// Start; until Start has wired everything, Handle answers 503 and Ready is false. Readiness never
// depends on Redis: a pod that is never ready gets no traffic, and callers would see activator
// timeouts instead of a clear 503 per request.
type Instance struct {
	function transport.Function
	wire     Wire
	stderr   io.Writer
	running  atomic.Pointer[running]
}

type running struct {
	handler http.Handler
	close   func(context.Context) error
	log     *slog.Logger
	logs    *logBuffer
}

var (
	_ fn.Handler           = (*Instance)(nil)
	_ fn.Starter           = (*Instance)(nil)
	_ fn.Stopper           = (*Instance)(nil)
	_ fn.ReadinessReporter = (*Instance)(nil)
	_ fn.LivenessReporter  = (*Instance)(nil)
)

// New returns function f with the production adapters, for func-go to start.
func New(f transport.Function) *Instance { return NewInstance(f, Adapters) }

// NewInstance returns the instance of function f, wired by wire when func-go starts it. It also
// paces the garbage collector for a function (gc.go).
func NewInstance(f transport.Function, wire Wire) *Instance {
	tuneGC(os.Getenv)
	return &Instance{function: f, wire: wire, stderr: os.Stderr}
}

// Start reads the configuration from the environment func-go hands over, wires the backend and
// swaps in the handler. An invalid configuration is logged with every problem and returned, which
// makes func-go stop and the process exit non-zero.
func (i *Instance) Start(ctx context.Context, environ map[string]string) error {
	ports := transport.Catalogue[i.function].Ports
	cfg, err := config.Load(func(k string) string { return environ[k] }, config.Options{NeedsRay: ports.Ray})
	if err != nil {
		slog.New(slog.NewJSONHandler(i.stderr, nil)).Error("function not started: invalid configuration",
			"function", string(i.function), "problems", problemsOf(err))
		return err
	}
	if cfg.LogLevel > slog.LevelDebug {
		fn.SetLogLevel(fn.LogWarn) // func-go logs at debug by default; keep its lines to what matters
	}
	logs := newLogBuffer(i.stderr, LogFlushEvery)
	log := observe.WithTraceLogging(cfg.Logger(logs)).With("function", string(i.function))
	stopTracing, err := observe.StartTracing(ctx, observe.TracingOptions{Enabled: cfg.Tracing.Enabled(),
		Protocol: cfg.Tracing.Protocol, ServiceName: string(i.function), Log: log,
		Getenv: func(k string) string { return environ[k] }})
	if err != nil {
		log.Error("function not started: tracing", "error", err.Error())
		logs.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	backend, closeBackend, err := i.wire(ctx, Env{Config: cfg, Ports: ports, Log: log, Metrics: reg})
	if err != nil {
		log.Error("function not started", "error", err.Error())
		_ = stopTracing(ctx)
		logs.Close()
		return err
	}
	h, err := httpapi.NewHandler(backend, httpapi.Options{Function: i.function, Callers: cfg.Directory(),
		MaxBodyBytes: cfg.MaxBodyBytes, Log: log, Registry: reg, Tracing: cfg.Tracing.Enabled()})
	if err != nil {
		_ = closeBackend(ctx)
		_ = stopTracing(ctx)
		logs.Close()
		return err
	}
	// The spans of the backend's last work are flushed after it stopped.
	closeAll := func(ctx context.Context) error { return errors.Join(closeBackend(ctx), stopTracing(ctx)) }
	i.running.Store(&running{handler: h, close: closeAll, log: log, logs: logs})
	log.Info("function ready", "config", cfg)
	return nil
}

// Handle serves a request, or 503 while the instance is still starting.
func (i *Instance) Handle(w http.ResponseWriter, r *http.Request) {
	if run := i.running.Load(); run != nil {
		run.handler.ServeHTTP(w, r)
		return
	}
	httpapi.Starting(w, r)
}

// stopProfile ends a CPU profile started under the profile build tag (profile.go).
var stopProfile = func() {}

// Stop releases the backend; func-go calls it after the server drained its requests.
func (i *Instance) Stop(ctx context.Context) error {
	defer stopProfile()
	run := i.running.Swap(nil)
	if run == nil {
		return nil
	}
	run.log.Info("function stopping")
	defer run.logs.Close()
	return run.close(ctx)
}

// Ready is true once Start has wired the function; it does not look at Redis.
func (i *Instance) Ready(context.Context) (bool, error) {
	return i.running.Load() != nil, nil
}

// Alive is true: a live process that can answer is alive, whatever its dependencies do.
func (i *Instance) Alive(context.Context) (bool, error) { return true, nil }

// problemsOf lists configuration problems one per line of the log record, so an operator reads
// them as a list rather than one escaped string.
func problemsOf(err error) []string {
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		return []string{err.Error()}
	}
	out := make([]string, len(cerr.Problems))
	for i, p := range cerr.Problems {
		out[i] = p.String()
	}
	return out
}
