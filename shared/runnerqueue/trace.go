package runnerqueue

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// traceFields carries W3C trace context: the stream entry of an attempt holds the enqueue span's
// traceparent (and tracestate), so the runner continues the request's trace across the queue
// (contract/runner_queue.json, entry_trace_fields). Baggage stays on this side.
var traceFields = propagation.TraceContext{}

// startEnqueueSpan starts the producer span of an enqueue, a child of the request's span.
func startEnqueueSpan(ctx context.Context, tp trace.TracerProvider, d deliberation.Deliberation) (context.Context, trace.Span) {
	return tp.Tracer("github.com/rayexecutor/functions/shared/runnerqueue").Start(ctx, "runner enqueue",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("rayexec.deliberation.id", d.ID),
			attribute.String("rayexec.submission.id", d.SubmissionID),
			attribute.Int("rayexec.attempt", d.Attempts),
			attribute.Int("rayexec.agents", d.TotalAgents),
			attribute.String("messaging.system", "redis_stream"),
			attribute.String("messaging.operation.type", "send")))
}

// traceContext is the traceparent and tracestate of ctx's span, empty without one.
func traceContext(ctx context.Context) (parent, state string) {
	c := propagation.MapCarrier{}
	traceFields.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// endSpan records err on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
