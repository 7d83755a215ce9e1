package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

var (
	recorderOnce sync.Once
	recorder     *tracetest.SpanRecorder
)

// withTracing turns server spans on, recorded by the global provider of this test binary. Only
// handlers with tracing on make spans, so the other tests see none of it.
func withTracing() option {
	recorderOnce.Do(func() {
		recorder = tracetest.NewSpanRecorder()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	})
	return func(o *httpapi.Options, _ *transport.Backend) { o.Tracing = true }
}

func spansOf(traceID string) map[trace.SpanKind][]sdktrace.ReadOnlySpan {
	out := map[trace.SpanKind][]sdktrace.ReadOnlySpan{}
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			out[s.SpanKind()] = append(out[s.SpanKind()], s)
		}
	}
	return out
}

func headerOf(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// logged returns the traceparent of the request line of route.
func logged(t *testing.T, logs, route string) string {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["route"] == route {
			s, _ := rec["traceparent"].(string)
			return s
		}
	}
	t.Fatalf("no request line of %s:\n%s", route, logs)
	return ""
}

// TestServerSpanContinuesTheCaller: with tracing on, a request with a traceparent is a server
// span of the caller's trace, the caller's span its parent, named after its route; the request's
// log line names that span, so logs and spans agree.
func TestServerSpanContinuesTheCaller(t *testing.T) {
	h := newHarness(t, transport.FunctionExecute, withTracing())
	res := h.do(h.request(http.MethodPost, "/", validRequest, "traceparent", traceparent))
	if res.status != http.StatusAccepted {
		t.Fatalf("execute: %d %s", res.status, res.body)
	}
	servers := spansOf("4bf92f3577b34da6a3ce929d0e0e4736")[trace.SpanKindServer]
	if len(servers) != 1 {
		t.Fatalf("server spans %v", servers)
	}
	s := servers[0]
	if s.Parent().SpanID().String() != "00f067aa0ba902b7" || !s.Parent().IsRemote() || s.Name() != "POST execute" {
		t.Errorf("server span %q, parent %s", s.Name(), s.Parent().SpanID())
	}
	if got := logged(t, h.logs.String(), "execute"); got != headerOf(s.SpanContext()) {
		t.Errorf("log line traceparent %q, the server span is %q", got, headerOf(s.SpanContext()))
	}
}

// TestEventSpanContinuesTheExtension: a CloudEvent whose traceparent extension names another trace
// than the HTTP header (the Broker's hop) gets a span of the event's trace, the extension's span
// its parent and the HTTP server span linked; the reply event and the log line carry that span.
func TestEventSpanContinuesTheExtension(t *testing.T) {
	h := newHarness(t, transport.FunctionStats, withTracing())
	const hop, fromEvent = "00-11111111111111111111111111111111-2222222222222222-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	res := h.do(h.binary("/", transport.TypeStatsRequested, "ev-1", `{}`, "traceparent", hop, "ce-traceparent", fromEvent))
	res.reply(t, transport.TypeStats)
	events := spansOf("0af7651916cd43dd8448eb211c80319c")[trace.SpanKindConsumer]
	servers := spansOf("11111111111111111111111111111111")[trace.SpanKindServer]
	if len(events) != 1 || len(servers) != 1 {
		t.Fatalf("event spans %v, server spans %v", events, servers)
	}
	ev := events[0]
	if ev.Parent().SpanID().String() != "b7ad6b7169203331" || len(ev.Links()) != 1 || ev.Links()[0].SpanContext.SpanID() != servers[0].SpanContext().SpanID() {
		t.Errorf("event span %q: parent %s, links %v", ev.Name(), ev.Parent().SpanID(), ev.Links())
	}
	want := headerOf(ev.SpanContext())
	if got := res.header.Get("Ce-Traceparent"); got != want {
		t.Errorf("reply traceparent %q, want the event span's %q", got, want)
	}
	if got := logged(t, h.logs.String(), "stats"); got != want {
		t.Errorf("log line traceparent %q, want the event span's %q", got, want)
	}
}

// TestRPCSpanIsOtelconnects: with tracing on, an RPC is one server span, otelconnect's with the
// RPC conventions, the caller's span its parent (no HTTP server span beside it), holding the
// deliberation id; the request's log line names it.
func TestRPCSpanIsOtelconnects(t *testing.T) {
	h := newHarness(t, transport.FunctionExecute, withTracing())
	const traceID = "22222222222222222222222222222222"
	req := connect.NewRequest(validRPCRequest())
	req.Header().Set("traceparent", "00-"+traceID+"-3333333333333333-01")
	if _, err := h.rpc().ExecuteDeliberation(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	servers := spansOf(traceID)[trace.SpanKindServer]
	if len(servers) != 1 {
		t.Fatalf("server spans %v, want otelconnect's alone", servers)
	}
	s := servers[0]
	attrs := map[string]string{}
	for _, a := range s.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if s.Parent().SpanID().String() != "3333333333333333" || attrs["rpc.system.name"] != "connectrpc" || attrs["rayexec.deliberation.id"] == "" {
		t.Errorf("RPC span %q, parent %s, attributes %v", s.Name(), s.Parent().SpanID(), attrs)
	}
	if got := logged(t, h.logs.String(), "execute"); got != headerOf(s.SpanContext()) {
		t.Errorf("log line traceparent %q, the RPC span is %q", got, headerOf(s.SpanContext()))
	}
}
