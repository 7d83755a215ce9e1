package observe

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
)

// Request is what the surfaces learn about a request for its metrics and its log line. Only the
// request's own goroutine writes it.
type Request struct {
	Route, Transport string
	DeliberationID   string
	EventType        string
	EventID          string
	Trace            Trace
	Authenticated    bool
	// Caller is the authenticated caller's name (empty when none).
	Caller string
	// RPC is set by the RPC procedures, with the status code they answered (0 is OK).
	RPC     bool
	RPCCode connect.Code
}

type requestKey struct{}

// WithRequest puts the request record in ctx for the surfaces to fill.
func WithRequest(ctx context.Context, in *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, in)
}

// RequestFrom returns the record of ctx's request, or a scratch one when there is none.
func RequestFrom(ctx context.Context) *Request {
	if in, ok := ctx.Value(requestKey{}).(*Request); ok {
		return in
	}
	return &Request{}
}

// LogRequest writes the one line of a request: info level, debug for metrics scrapes.
func LogRequest(log *slog.Logger, r *http.Request, in *Request, status int, took time.Duration) {
	level := slog.LevelInfo
	if in.Route == "metrics" {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("route", in.Route), slog.String("transport", in.Transport),
		slog.Int("status", status), slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	}
	if in.RPC {
		code := "ok" // connect.Code names every code but success
		if in.RPCCode != 0 {
			code = in.RPCCode.String()
		}
		attrs = append(attrs, slog.String("rpc_code", code))
	}
	if in.Caller != "" {
		attrs = append(attrs, slog.String("caller", in.Caller))
	}
	if in.DeliberationID != "" {
		attrs = append(attrs, slog.String("deliberation_id", in.DeliberationID))
	}
	if in.EventType != "" {
		attrs = append(attrs, slog.String("ce_type", in.EventType), slog.String("ce_id", in.EventID))
	}
	if in.Trace.Parent != "" {
		attrs = append(attrs, slog.String("traceparent", in.Trace.Parent))
	}
	// A background context: the trace is in attrs already and must not be added twice.
	log.LogAttrs(context.Background(), level, "request", attrs...)
}

// LogFailure logs an error answered with the HTTP status (or its RPC twin) at the level it
// deserves: internal errors with their cause at error level, outages at warn, and caller mistakes
// at debug (they are the caller's to fix, not the operator's).
func LogFailure(ctx context.Context, log *slog.Logger, err error, status int) {
	log = log.With("error", err.Error())
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		log.ErrorContext(ctx, "request failed")
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		log.WarnContext(ctx, "request refused")
	default:
		log.DebugContext(ctx, "request rejected")
	}
}

// StatusRecorder remembers the status code for metrics and the log line.
type StatusRecorder struct {
	http.ResponseWriter
	Status      int
	wroteHeader bool
}

// NewStatusRecorder records what is written to w; the status is 200 until told otherwise.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
}

func (s *StatusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.Status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on: connect-go's streaming handlers (server reflection, which grpcurl
// speaks as a bidirectional stream) assert http.Flusher on the writer they get and answer
// INTERNAL without it. Unwrap alone does not satisfy that assertion.
func (s *StatusRecorder) Flush() {
	s.wroteHeader = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

var _ http.Flusher = (*StatusRecorder)(nil)
