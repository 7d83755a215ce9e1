package rayjobs_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/internal/raytest"
)

// TestSubmitCarriesTheTrace: a submit under a request's span is a span of that trace with a client
// span per Jobs API call under it, and the job gets the submit span's traceparent in TRACEPARENT,
// so the job on Ray continues the trace.
func TestSubmitCarriesTheTrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := raytest.Start(t)
	cfg := testConfig(s.URL())
	cfg.Tracing = tp
	c := newCluster(t, cfg)
	d, req := testDeliberation(t)
	ctx, request := tp.Tracer("test").Start(context.Background(), "request")
	if err := c.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	request.End()
	j, ok := s.Job(d.SubmissionID)
	if !ok {
		t.Fatalf("no job %s", d.SubmissionID)
	}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		byName[sp.Name()] = append(byName[sp.Name()], sp)
	}
	submits, posts := byName["ray job submit"], byName["ray jobs POST"]
	if len(submits) != 1 || len(posts) == 0 {
		t.Fatalf("spans %v", byName)
	}
	submit := submits[0]
	if submit.Parent().SpanID() != request.SpanContext().SpanID() || submit.SpanContext().TraceID() != request.SpanContext().TraceID() {
		t.Errorf("the submit span is not the request's child")
	}
	for _, p := range posts {
		if p.Parent().SpanID() != submit.SpanContext().SpanID() || p.SpanKind() != trace.SpanKindClient {
			t.Errorf("Jobs API span %s is not a client span under the submit", p.Name())
		}
	}
	want := "00-" + submit.SpanContext().TraceID().String() + "-" + submit.SpanContext().SpanID().String() + "-01"
	if got := j.EnvVars["TRACEPARENT"]; got != want {
		t.Errorf("TRACEPARENT %q, want %q", got, want)
	}
	if _, ok := j.EnvVars["TRACESTATE"]; ok || strings.Contains(j.EnvVars["RAY_EXECUTOR_REQUEST"], want) {
		t.Errorf("env_vars %v", j.EnvVars)
	}
}
