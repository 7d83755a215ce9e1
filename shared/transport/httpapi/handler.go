package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
	"github.com/rayexecutor/functions/shared/transport/rpc"
)

// DefaultMaxBodyBytes is docs/configuration.md's MAX_BODY_BYTES default.
const DefaultMaxBodyBytes = 256 << 10

// Options configure a function's endpoint.
type Options struct {
	Function transport.Function
	// Source is the ce-source of reply events; it defaults to one naming the function.
	Source string
	// APIToken, when set, is required as a bearer token of every request but the wake-up; it is
	// the operator of Callers when Callers is nil.
	APIToken string
	// Callers authenticates requests (API_TOKEN's operator, the named callers, the Broker's
	// caller); nil: a directory of APIToken alone.
	Callers      *callers.Directory
	MaxBodyBytes int64
	Log          *slog.Logger
	// Registry receives the request metrics and is served at /metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Tracing makes a server span of every request (observe.ServerSpans); off, the caller's trace
	// context is still read, for the logs and the replies.
	Tracing bool
}

type handlers struct {
	backend transport.Backend
	opts    Options
	log     *slog.Logger
	auth    *callers.Directory
	metrics *observe.Metrics
	mux     *http.ServeMux
	events  map[string]eventRoute
	rpc     *rpc.Surface
}

// NewHandler returns the endpoint of one function: the routes and CloudEvent types of its
// catalogue entry, the RPC surface, and /metrics, behind one token check, one set of limits and
// one log line per request. The backend must hold every use case the function serves.
func NewHandler(b transport.Backend, opts Options) (http.Handler, error) {
	entry, ok := transport.Catalogue[opts.Function]
	if !ok {
		return nil, errors.New("httpapi: unknown function " + string(opts.Function))
	}
	if err := b.Check(opts.Function); err != nil {
		return nil, err
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Source == "" {
		opts.Source = "/rayexecutor/" + string(opts.Function)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Callers == nil {
		opts.Callers = callers.NewDirectory(nil, nil, opts.APIToken, "")
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	m, err := observe.NewMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	h := &handlers{backend: b, opts: opts, log: opts.Log, auth: opts.Callers, metrics: m, mux: http.NewServeMux()}
	if err := h.mount(entry); err != nil {
		return nil, err
	}
	h.rpc = rpc.Mount(h.mux, rpc.Config{Function: opts.Function, Backend: b, MaxBodyBytes: opts.MaxBodyBytes, Log: opts.Log,
		Tracing: opts.Tracing})
	h.mux.Handle("/metrics", methods{http.MethodGet: h.metricsHTTP})
	h.mux.HandleFunc("/", notFound)
	return observe.ServerSpans(h, opts.Tracing, h.rpc.TracesItself), nil
}

// ServeHTTP bounds the headers, checks the token of everything but CloudEvents (whose type decides
// whether a token is needed, see events), and records metrics and one log line per request.
func (h *handlers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	in := &observe.Request{Route: "unmatched", Transport: "http"}
	in.Trace, _ = observe.TraceFrom(r.Context())
	r = r.WithContext(observe.WithRequest(r.Context(), in))
	rec := observe.NewStatusRecorder(w)
	isRPC := h.rpc.Calls(r)
	event := !isRPC && !rpc.Under(r) && r.Method == http.MethodPost && isCloudEvent(r.Header)
	caller, ok, authErr := h.authenticate(r, event)
	in.Authenticated, in.Caller = ok, caller.Name
	if !ok {
		// What an unauthenticated request may still reach (the wake-up, health) runs as nobody:
		// no name, no role that sees anything, should a path ever read on its behalf.
		caller = callers.Caller{Role: callers.RoleCaller}
	}
	r = r.WithContext(callers.With(r.Context(), caller))
	if isRPC {
		in.Transport = rpc.Transport(r)
	}
	switch {
	case headerBytes(r) > maxHeaderBytes:
		transport.ProtocolProblem(http.StatusRequestHeaderFieldsTooLarge, "headers-too-large", "request headers are too large").Write(rec)
	case authErr != nil:
		h.authFailed(rec, r, authErr)
	case !in.Authenticated && isRPC && !rpc.Health(r):
		h.rpc.Unauthenticated(rec, r)
	case !in.Authenticated && rpc.Under(r) && !rpc.Health(r):
		h.unauthorized(rec, r)
	case !in.Authenticated && !isRPC && !(r.Method == http.MethodPost && isCloudEvent(r.Header)):
		h.unauthorized(rec, r)
	default:
		h.mux.ServeHTTP(rec, r)
	}
	took := time.Since(start)
	status := rec.Status
	if in.RPC {
		status = rpc.HTTPStatus(in.RPCCode)
	}
	h.metrics.Observe(in.Route, in.Transport, status, took)
	observe.NameServerSpan(r, in)
	observe.LogRequest(h.log, r, in, status, took)
}

// post serves a POST path: CloudEvents go to the event router; anything else to plain, or 415
// when the path takes nothing but CloudEvents.
func (h *handlers) post(plain http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case isCloudEvent(r.Header):
			h.eventsHTTP(w, r)
		case plain != nil:
			plain(w, r)
		default:
			transport.ProtocolProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
				"POST takes CloudEvents here (binary or structured mode)").Write(w)
		}
	}
}

func (h *handlers) metricsHTTP(w http.ResponseWriter, r *http.Request) {
	observe.RequestFrom(r.Context()).Route = "metrics"
	h.metrics.Handler().ServeHTTP(w, r)
}
