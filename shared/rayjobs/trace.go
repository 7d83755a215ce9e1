package rayjobs

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Env variables of the job's trace context: the submit span's, in W3C header form, named as
// OpenTelemetry's environment carrier names them, so the job continues the request's trace.
const (
	envTraceparent = "TRACEPARENT"
	envTracestate  = "TRACESTATE"
)

// tracedTransport makes a client span of every Jobs API call made under a span (a request's or
// the submit's; background polls make no lone root spans) and sends traceparent to the
// dashboard. otelhttp's own metrics stay off: the functions export Prometheus.
func tracedTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), otelhttp.WithTracerProvider(tp),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanContextFromContext(r.Context()).IsValid() }),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "ray jobs " + r.Method }))
}

// startSubmitSpan starts the producer span of a job's submission.
func startSubmitSpan(ctx context.Context, tp trace.TracerProvider, d deliberation.Deliberation) (context.Context, trace.Span) {
	return tp.Tracer("github.com/rayexecutor/functions/shared/rayjobs").Start(ctx, "ray job submit",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("rayexec.deliberation.id", d.ID),
			attribute.String("rayexec.submission.id", d.SubmissionID),
			attribute.Int("rayexec.attempt", d.Attempts),
			attribute.Int("rayexec.agents", d.TotalAgents)))
}

// addTraceEnv puts ctx's trace context in the job's environment, when there is one.
func addTraceEnv(ctx context.Context, env map[string]string) {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	if p := c["traceparent"]; p != "" {
		env[envTraceparent] = p
	}
	if s := c["tracestate"]; s != "" {
		env[envTracestate] = s
	}
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
