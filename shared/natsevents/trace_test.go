package natsevents_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/natsevents"
)

// TestPublishCarriesTheTrace: on real Redis and NATS, the event a request records is published
// under a producer span that is the request span's child, and the message carries that span's
// traceparent both in its headers and as the CloudEvent's traceparent extension.
func TestPublishCarriesTheTrace(t *testing.T) {
	t.Parallel()
	url := testenv.StartNATS(t).URL()
	store := storeOn(t, testenv.StartRedis(t).Addr, "trace")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p, err := natsevents.New(natsevents.Options{URL: url, ReconnectWait: 50 * time.Millisecond,
		ConnectTimeout: 500 * time.Millisecond, PublishTimeout: time.Second, Tracing: tp}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	_, ray := newRay(t)
	svc := service(unthrottled{store}, ray, p)
	waitConnected(t, url, svc)

	ctx, caller := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := svc.Execute(ctx, app.ExecuteCommand{Input: request()}); err != nil {
		t.Fatal(err)
	}
	caller.End()
	m := messageAt(t, url, 2)
	var ev event.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	header := m.Header.Get("traceparent")
	ext, _ := ev.Extensions()["traceparent"].(string)
	var publish sdktrace.ReadOnlySpan
	deadline := time.Now().Add(5 * time.Second)
	for publish == nil && time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindProducer && s.SpanContext().TraceID() == caller.SpanContext().TraceID() {
				publish = s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if publish == nil {
		t.Fatalf("no publish span in the request's trace; header %q", header)
	}
	if publish.Parent().SpanID() != caller.SpanContext().SpanID() || publish.Name() != prefix+".deliberation.submitted publish" {
		t.Errorf("publish span %q, parent %s", publish.Name(), publish.Parent().SpanID())
	}
	want := "00-" + publish.SpanContext().TraceID().String() + "-" + publish.SpanContext().SpanID().String() + "-01"
	if header != want || ext != want {
		t.Errorf("traceparent header %q, extension %q; want both %q", header, ext, want)
	}
}

// waitConnected returns once a first event went through, so the traced one is drained by its own
// Deliver rather than by the catch-up that follows the connection.
func waitConnected(t *testing.T, url string, svc *app.Service) {
	t.Helper()
	if _, err := svc.Execute(context.Background(), app.ExecuteCommand{Input: request()}); err != nil {
		t.Fatal(err)
	}
	messageAt(t, url, 1)
}

// messageAt waits for the stream's message of sequence seq.
func messageAt(t *testing.T, url string, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	js := jetStream(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if s, err := js.Stream(ctx, streamName); err == nil {
			if m, err := s.GetMsg(ctx, seq); err == nil {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message %d on the stream", seq)
	return nil
}
