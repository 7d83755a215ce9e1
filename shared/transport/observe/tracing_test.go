package observe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/transport/observe"
)

// TestTracingOffIsNoop: without an endpoint StartTracing sets no tracer provider, so nothing can
// be exported and no span records; the server wrapper still reads the caller's trace context,
// as the caller sent it, for the logs and what the function passes on.
func TestTracingOffIsNoop(t *testing.T) {
	stop, err := observe.StartTracing(context.Background(), observe.TracingOptions{ServiceName: "f"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop(context.Background()) }()
	if _, sdk := otel.GetTracerProvider().(*sdktrace.TracerProvider); sdk {
		t.Fatal("a tracer provider was set without an endpoint")
	}
	if _, span := observe.Tracer().Start(context.Background(), "x"); span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("a span records with tracing off")
	}
	var seen observe.Trace
	var recording bool
	h := observe.ServerSpans(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen, _ = observe.TraceFrom(r.Context())
		recording = trace.SpanFromContext(r.Context()).IsRecording()
	}), false, nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("traceparent", parent)
	req.Header.Set("tracestate", "k=v")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if seen != (observe.Trace{Parent: parent, State: "k=v"}) || recording {
		t.Errorf("handler saw %+v (recording %v), want the caller's context as sent", seen, recording)
	}
}
