package transport

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
)

// requestInfo is what the handlers learn about a request for its metrics and its log line. Only
// the request's own goroutine writes it.
type requestInfo struct {
	route, transport string
	deliberationID   string
	eventType        string
	eventID          string
	trace            Trace
	authenticated    bool
	// rpc is set by the RPC procedures, with the status code they answered (0 is OK).
	rpc     bool
	rpcCode connect.Code
}

type infoKey struct{}

func info(r *http.Request) *requestInfo {
	return r.Context().Value(infoKey{}).(*requestInfo)
}

func (h *handlers) logRequest(r *http.Request, in *requestInfo, status int, took time.Duration) {
	level := slog.LevelInfo
	if in.route == "metrics" {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("route", in.route), slog.String("transport", in.transport),
		slog.Int("status", status), slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	}
	if in.rpc {
		code := "ok" // connect.Code names every code but success
		if in.rpcCode != 0 {
			code = in.rpcCode.String()
		}
		attrs = append(attrs, slog.String("rpc_code", code))
	}
	if in.deliberationID != "" {
		attrs = append(attrs, slog.String("deliberation_id", in.deliberationID))
	}
	if in.eventType != "" {
		attrs = append(attrs, slog.String("ce_type", in.eventType), slog.String("ce_id", in.eventID))
	}
	if in.trace.Parent != "" {
		attrs = append(attrs, slog.String("traceparent", in.trace.Parent))
	}
	// A background context: the trace is in attrs already and must not be added twice.
	h.log.LogAttrs(context.Background(), level, "request", attrs...)
}

// statusRecorder remembers the status code for metrics and the log line.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on: connect-go's streaming handlers (server reflection, which grpcurl
// speaks as a bidirectional stream) assert http.Flusher on the writer they get and answer
// INTERNAL without it. Unwrap alone does not satisfy that assertion.
func (s *statusRecorder) Flush() {
	s.wroteHeader = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

var _ http.Flusher = (*statusRecorder)(nil)
