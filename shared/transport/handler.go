package transport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBodyBytes is docs/configuration.md's MAX_BODY_BYTES default.
const DefaultMaxBodyBytes = 256 << 10

// Options configure a handler set.
type Options struct {
	Function Function
	// Source is the ce-source of reply events; it defaults to one naming the function.
	Source string
	// APIToken, when set, is required as a bearer token of every request but the wake-up.
	APIToken     string
	MaxBodyBytes int64
	Log          *slog.Logger
	// Registry receives the request metrics and is served at /metrics; nil makes a new one.
	Registry *prometheus.Registry
}

type handlers struct {
	backend Backend
	opts    Options
	log     *slog.Logger
	auth    bearer
	metrics *metrics
	mux     *http.ServeMux
	events  map[string]eventRoute
	// rpcErrors writes an error in the framing of the RPC protocol a request speaks.
	rpcErrors *connect.ErrorWriter
}

// NewHandler returns the handler of one function: its use cases at the paths of docs/api.md,
// CloudEvents on POST, and /metrics.
func NewHandler(b Backend, opts Options) (http.Handler, error) {
	if b.UseCases == nil {
		return nil, errors.New("transport: backend has no use cases")
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
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	h := &handlers{backend: b, opts: opts, log: opts.Log, auth: newBearer(opts.APIToken), metrics: m, mux: http.NewServeMux()}
	paths, events, err := h.layout(opts.Function)
	if err != nil {
		return nil, err
	}
	h.events = events
	for pattern, handler := range paths {
		h.mux.Handle(pattern, handler)
	}
	h.mountRPC()
	h.mux.Handle("/metrics", methods{http.MethodGet: h.metricsHTTP})
	h.mux.HandleFunc("/", notFound)
	return h, nil
}

// ServeHTTP bounds the headers, checks the token of everything but CloudEvents (whose type decides
// whether a token is needed, see events), and records metrics and one log line per request.
func (h *handlers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	in := &requestInfo{route: "unmatched", transport: "http", trace: traceFromHeader(r.Header)}
	r = r.WithContext(withTrace(context.WithValue(r.Context(), infoKey{}, in), in.trace))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	in.authenticated = h.auth.allows(r)
	rpc := h.isRPC(r)
	if rpc {
		in.transport = rpcTransport(r)
	}
	switch {
	case headerBytes(r) > maxHeaderBytes:
		protocolProblem(http.StatusRequestHeaderFieldsTooLarge, "headers-too-large", "request headers are too large").write(rec)
	case !in.authenticated && rpc && !strings.HasPrefix(r.URL.Path, healthPrefix):
		h.rpcUnauthenticated(rec, r, in)
	case !in.authenticated && !rpc && !(r.Method == http.MethodPost && isCloudEvent(r.Header)):
		h.unauthorized(rec, r)
	default:
		h.mux.ServeHTTP(rec, r)
	}
	took := time.Since(start)
	status := rec.status
	if in.rpc {
		status = rpcHTTPStatus(in.rpcCode)
	}
	h.metrics.observe(in.route, in.transport, status, took)
	h.logRequest(r, in, status, took)
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
			protocolProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
				"POST takes CloudEvents here (binary or structured mode)").write(w)
		}
	}
}

func (h *handlers) metricsHTTP(w http.ResponseWriter, r *http.Request) {
	info(r).route = "metrics"
	h.metrics.handler().ServeHTTP(w, r)
}
