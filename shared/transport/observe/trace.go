package observe

import (
	"context"
	"log/slog"
	"net/http"
)

// Trace is W3C trace context as it arrived: the traceparent and, when present, the tracestate.
// Only a well-formed traceparent is kept, so nothing a caller invents reaches a log line or a reply.
type Trace struct {
	Parent string
	State  string
}

type traceKey struct{}

// TraceFrom returns the trace context of a request, if it carried one.
func TraceFrom(ctx context.Context) (Trace, bool) {
	t, ok := ctx.Value(traceKey{}).(Trace)
	return t, ok
}

// WithTrace puts t in ctx, when t is a trace.
func WithTrace(ctx context.Context, t Trace) context.Context {
	if t.Parent == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFromHeader reads the W3C traceparent and tracestate headers.
func TraceFromHeader(h http.Header) Trace {
	return NewTrace(h.Get("traceparent"), h.Get("tracestate"))
}

// NewTrace keeps a traceparent and tracestate if they are well formed.
func NewTrace(parent, state string) Trace {
	if !validTraceparent(parent) {
		return Trace{}
	}
	if len(state) > 512 || !onlyVisibleOrSpace(state) {
		state = ""
	}
	return Trace{Parent: parent, State: state}
}

// validTraceparent checks `version-traceid-parentid-flags` of W3C Trace Context: lowercase hex of
// 2-32-16-2 digits, version not ff, ids not all zeros.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s[:2] != "ff" && s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}

func onlyVisibleOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// WithTraceLogging makes every record logged with a request's context carry its traceparent, so
// the use cases' own log lines join the caller's trace without knowing about HTTP.
func WithTraceLogging(log *slog.Logger) *slog.Logger {
	return slog.New(traceHandler{log.Handler()})
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := TraceFrom(ctx); ok {
		r.AddAttrs(slog.String("traceparent", t.Parent))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
