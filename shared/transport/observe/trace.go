package observe

import (
	"context"
	"encoding/hex"
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace is W3C trace context in its header form: the traceparent and, when there is one, the
// tracestate. It is read from the span context of a request (its server span when tracing is on,
// the caller's context otherwise), so logs, replies and exported spans name the same span. Only
// what the W3C propagator accepted is ever in a span context, so nothing a caller invents reaches
// a log line or a reply.
type Trace struct {
	Parent string
	State  string
}

// maxTraceState bounds the tracestate repeated in logs and replies.
const maxTraceState = 512

// TraceFrom returns the trace context of ctx's span, if it has one.
func TraceFrom(ctx context.Context) (Trace, bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return Trace{}, false
	}
	return TraceOf(sc), true
}

// TraceOf renders a span context as traceparent and tracestate.
func TraceOf(sc trace.SpanContext) Trace {
	tid, sid, flags := sc.TraceID(), sc.SpanID(), [1]byte{byte(sc.TraceFlags())}
	b := make([]byte, 0, 55)
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, flags[:])
	state := sc.TraceState().String()
	if len(state) > maxTraceState {
		state = ""
	}
	return Trace{Parent: string(b), State: state}
}

// WithTrace continues the trace context t in ctx, as a remote parent, when the W3C propagator
// accepts it; otherwise ctx is returned as it is.
func WithTrace(ctx context.Context, t Trace) context.Context {
	if t.Parent == "" {
		return ctx
	}
	c := propagation.MapCarrier{"traceparent": t.Parent}
	if t.State != "" {
		c["tracestate"] = t.State
	}
	return Propagator.Extract(ctx, c)
}

// WithTraceLogging makes every record logged with a request's context carry its traceparent, so
// the use cases' own log lines join the request's span without knowing about HTTP.
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
