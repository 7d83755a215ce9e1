package natsevents

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// traceFields is the W3C trace context a published event carries, in its message headers and
// in its CloudEvents distributed-tracing extension (traceparent, tracestate).
var traceFields = propagation.TraceContext{}

// origins remembers, per deliberation, the span of the request whose Deliver started a drain, so
// the background publish is that request's child. A drain with no such request (a catch-up, a
// reconcile pass) publishes under a root span. It holds at most max entries.
type origins struct {
	mu    sync.Mutex
	max   int
	spans map[string]trace.SpanContext
}

func (o *origins) put(id string, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.spans[id]; ok || len(o.spans) < o.max {
		o.spans[id] = sc
	}
}

// take returns ctx under the span remembered for id, forgetting it.
func (o *origins) take(ctx context.Context, id string) context.Context {
	o.mu.Lock()
	sc, ok := o.spans[id]
	delete(o.spans, id)
	o.mu.Unlock()
	if !ok {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, sc)
}

// startPublishSpan starts the producer span of one event's publish.
func (p *Publisher) startPublishSpan(ctx context.Context, subject string, e deliberation.LifecycleEvent) (context.Context, trace.Span) {
	tp := p.opt.Tracing
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer("github.com/rayexecutor/functions/shared/natsevents").Start(ctx, subject+" publish",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", e.ID()),
			attribute.String("cloudevents.event_type", e.Type()),
			attribute.String("rayexec.deliberation.id", e.Deliberation.ID)))
}

// maxTraceState bounds the tracestate sent on, which must fit the headers' allowance.
const maxTraceState = 512

// traceOf is the trace context to send with an event: ctx's span's, or none.
func traceOf(ctx context.Context) propagation.MapCarrier {
	c := propagation.MapCarrier{}
	traceFields.Inject(ctx, c)
	if len(c["tracestate"]) > maxTraceState {
		delete(c, "tracestate")
	}
	return c
}

// setHeaders puts the trace context in the message headers, under the W3C names as they are.
func setHeaders(h nats.Header, c propagation.MapCarrier) {
	for k, v := range c {
		h[k] = []string{v}
	}
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
