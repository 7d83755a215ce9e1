package runnerqueue

import (
	"context"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// withRemoteTrace is ctx under a caller's span of trace traceID (32 hex digits).
func withRemoteTrace(ctx context.Context, traceID, state string) context.Context {
	var tid trace.TraceID
	_, _ = hex.Decode(tid[:], []byte(traceID))
	ts, _ := trace.ParseTraceState(state)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

var (
	recorderOnce sync.Once
	recorder     *tracetest.SpanRecorder
)

// spanRecorder makes the global tracer provider record every span of this test binary.
func spanRecorder() *tracetest.SpanRecorder {
	recorderOnce.Do(func() {
		recorder = tracetest.NewSpanRecorder()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	})
	return recorder
}

func traceTestAttempt(t *testing.T, id string) (deliberation.Deliberation, deliberation.Request) {
	t.Helper()
	timeout := 60
	req, err := deliberation.NewRequest(deliberation.RequestInput{TaskID: "t", TaskDescription: "d", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s", TimeoutSeconds: &timeout},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m"}}, VLLMURL: "http://vllm:8000", VLLMModel: "j",
	}, deliberation.Limits{Allowlist: deliberation.AllowAny(nil)})
	if err != nil {
		t.Fatal(err)
	}
	d := deliberation.New(id, req, time.Now().UTC())
	return d, req
}

// TestEnqueueCarriesTheTrace: on a real redis-server, an enqueue under a caller's span is a
// producer span of that trace, and the stream entry carries that span's traceparent (and the
// caller's tracestate), which the runner continues; with tracing off and no caller's trace it
// writes no trace field at all, so the entry is the one the runner has always read.
func TestEnqueueCarriesTheTrace(t *testing.T) {
	rec := spanRecorder()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	q, err := New(rdb, Config{Prefix: "trace"})
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	ctx := withRemoteTrace(context.Background(), traceID, "vendor=x")
	traced, req := traceTestAttempt(t, "delib-traced")
	if err := q.Submit(ctx, traced, req); err != nil {
		t.Fatal(err)
	}
	untraced, err := New(rdb, Config{Prefix: "trace", Tracing: noop.NewTracerProvider()})
	if err != nil {
		t.Fatal(err)
	}
	plain, req := traceTestAttempt(t, "delib-plain")
	if err := untraced.Submit(context.Background(), plain, req); err != nil {
		t.Fatal(err)
	}
	var entries []redis.XMessage // the traced attempt's entry, then the plain one's, each in its shard
	for _, id := range []string{traced.SubmissionID, plain.SubmissionID} {
		got, err := rdb.XRange(ctx, q.keys.Queue(ShardOf(id)), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if e.Values["attempt"] == id {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) != 2 {
		t.Fatalf("stream entries %v, %v", entries, err)
	}
	var span sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "runner enqueue" && s.SpanContext().TraceID().String() == traceID {
			span = s
		}
	}
	if span == nil {
		t.Fatalf("no enqueue span in trace %s", traceID)
	}
	if span.Parent().SpanID() != (trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}) || span.SpanKind() != trace.SpanKindProducer {
		t.Errorf("enqueue span: parent %s, kind %s", span.Parent().SpanID(), span.SpanKind())
	}
	attrs := map[string]string{}
	for _, a := range span.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["rayexec.deliberation.id"] != "delib-traced" || attrs["rayexec.attempt"] != "1" || attrs["rayexec.submission.id"] != traced.SubmissionID {
		t.Errorf("enqueue span attributes %v", attrs)
	}
	want := "00-" + traceID + "-" + span.SpanContext().SpanID().String() + "-01"
	if got := entries[0].Values["traceparent"]; got != want || entries[0].Values["tracestate"] != "vendor=x" {
		t.Errorf("entry trace fields %q %q, want %q and the caller's tracestate", got, entries[0].Values["tracestate"], want)
	}
	if got := slices.Sorted(maps.Keys(entries[1].Values)); !slices.Equal(got, sorted(readQueueContract(t).EntryFields)) {
		t.Errorf("an entry without a trace has fields %v", got)
	}
}
