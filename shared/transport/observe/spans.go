package observe

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes an operator filters by, shared with the adapters' spans by name.
const (
	AttrDeliberationID = "rayexec.deliberation.id"
	AttrRoute          = "rayexec.route"
)

// NameServerSpan names the request's server span after the route it took and records what the
// surfaces learnt (the deliberation, the event, the RPC code), once the request is answered.
func NameServerSpan(r *http.Request, in *Request) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetName(r.Method + " " + in.Route)
	attrs := []attribute.KeyValue{attribute.String(AttrRoute, in.Route), attribute.String("rayexec.transport", in.Transport)}
	if in.DeliberationID != "" {
		attrs = append(attrs, attribute.String(AttrDeliberationID, in.DeliberationID))
	}
	if in.RPC {
		attrs = append(attrs, attribute.String("rpc.connect_rpc.error_code", strconv.Itoa(int(in.RPCCode))))
	}
	span.SetAttributes(attrs...)
}

// NameRPCSpan records what an RPC learnt on its span (otelconnect's, named after the procedure),
// and makes the request's log line name that span.
func NameRPCSpan(ctx context.Context, in *Request) {
	if t, ok := TraceFrom(ctx); ok {
		in.Trace = t
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String(AttrRoute, in.Route), attribute.String("rayexec.transport", in.Transport))
	if in.DeliberationID != "" {
		span.SetAttributes(attribute.String(AttrDeliberationID, in.DeliberationID))
	}
}

// EventSpan starts the span of one CloudEvent. When the event carries a traceparent extension it
// continues that trace (a Broker keeps it across hops, the HTTP header only names the last hop),
// linked to the request's span; otherwise it is a child of the request's span. With tracing off
// it only continues the extension's context, with no span of its own.
func EventSpan(ctx context.Context, enabled bool, ext Trace, eventType, id, source string) (context.Context, trace.Span) {
	if !enabled {
		ctx = WithTrace(ctx, ext)
		return ctx, trace.SpanFromContext(ctx)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("cloudevents.event_type", eventType), attribute.String("cloudevents.event_id", id),
		attribute.String("cloudevents.event_source", source))}
	if parent := trace.SpanContextFromContext(WithTrace(context.Background(), ext)); parent.IsValid() {
		if http := trace.SpanContextFromContext(ctx); http.IsValid() && http.TraceID() != parent.TraceID() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: http}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return Tracer().Start(ctx, "event "+eventType, opts...)
}
