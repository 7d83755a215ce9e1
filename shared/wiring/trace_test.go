package wiring_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/rayexecutor/functions/internal/otlptest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/runnerqueue"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

const executeBody = `{"task_id": "t-1", "task_description": "Write a rate limiter", "role": "DEV",
  "constraints": {"story_id": "s-1", "timeout_seconds": 60},
  "agents": [{"agent_id": "a1", "role": "DEV", "model": "m"}],
  "vllm_url": "http://127.0.0.1:8000", "vllm_model": "judge"}`

// executeTraced starts the execute function on env, posts one deliberation with traceparent and
// stops the function (which flushes its spans); it returns the stream entry's trace fields.
func executeTraced(t *testing.T, env map[string]string, traceparent string) map[string]any {
	t.Helper()
	inst := wiring.New(transport.FunctionExecute)
	if err := inst.Start(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(executeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	rec := httptest.NewRecorder()
	inst.Handle(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("execute: %d %s", rec.Code, rec.Body)
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(env["REDIS_URL"], "redis://")})
	defer rdb.Close()
	var entries []redis.XMessage // the one entry, in whichever shard its attempt is
	keys := runnerqueue.NewKeys(env["REDIS_KEY_PREFIX"])
	for s := range runnerqueue.Shards {
		got, err := rdb.XRange(context.Background(), keys.Queue(s), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, got...)
	}
	if len(entries) != 1 {
		t.Fatalf("queue: %v", entries)
	}
	return entries[0].Values
}

// TestTracingOffPassesTheCallersTraceOn: without an OTLP endpoint the function makes no span of
// its own (a span of ours would have put its own id in the entry), yet the runner's queue entry
// carries the caller's traceparent unchanged, so a trace still reaches the runner.
func TestTracingOffPassesTheCallersTraceOn(t *testing.T) {
	srv := testenv.StartRedis(t)
	const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	entry := executeTraced(t, map[string]string{"REDIS_URL": "redis://" + srv.Addr, "REDIS_KEY_PREFIX": "off",
		"VLLM_URL_ALLOWLIST": "http://127.0.0.1:8000"}, caller)
	if entry["traceparent"] != caller {
		t.Errorf("entry traceparent %v, want the caller's %s", entry["traceparent"], caller)
	}
}

// TestRequestTraceReachesTheCollector: with OTEL_EXPORTER_OTLP_ENDPOINT set, one request with a
// traceparent exports, on the caller's trace, a server span that continues the caller's span, a
// client span per Redis command or script, and the enqueue span under the server span, whose
// traceparent the runner's queue entry carries; the function's stop flushes them.
func TestRequestTraceReachesTheCollector(t *testing.T) {
	srv := testenv.StartRedis(t)
	recv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL())
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	entry := executeTraced(t, map[string]string{"REDIS_URL": "redis://" + srv.Addr, "REDIS_KEY_PREFIX": "on",
		"VLLM_URL_ALLOWLIST": "http://127.0.0.1:8000", "OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL()},
		"00-"+traceID+"-"+callerSpan+"-01")
	spans := recv.Wait(5*time.Second, func(s []otlptest.Span) bool { return len(s) >= 3 })
	var server, enqueue otlptest.Span
	var redisUnderServer, redisUnderEnqueue int
	for _, s := range spans {
		switch {
		case s.Kind == tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case s.Name == "runner enqueue":
			enqueue = s
		}
	}
	// The function's own start (its look for keys of the layout before shards) is a trace of its
	// own, under its named span; every other span is the request's, on the caller's trace.
	startup := map[string]bool{}
	for _, s := range spans {
		if s.Name == wiring.StartupLookSpan && s.ParentID == "" {
			startup[s.TraceID] = true
		}
	}
	for _, s := range spans {
		if s.TraceID != traceID && !startup[s.TraceID] {
			t.Errorf("span %q of trace %s, want every span of the request in the caller's %s", s.Name, s.TraceID, traceID)
		}
	}
	for _, s := range spans {
		if s.Attributes["db.system"] != "redis" {
			continue
		}
		if s.Name == "hello" || strings.HasPrefix(s.Name, "redis.pipeline client") {
			t.Errorf("the connection handshake made span %q", s.Name)
		}
		switch s.ParentID {
		case server.SpanID:
			redisUnderServer++
		case enqueue.SpanID:
			redisUnderEnqueue++
		}
	}
	switch {
	case server.ParentID != callerSpan || server.Name != "POST execute" || server.Service != "execute-deliberation":
		t.Errorf("server span %+v, want the caller's child named after the route", server)
	case enqueue.ParentID != server.SpanID || enqueue.Attributes["rayexec.deliberation.id"] == "":
		t.Errorf("enqueue span %+v, want the server span's child", enqueue)
	case redisUnderServer == 0 || redisUnderEnqueue == 0:
		t.Errorf("redis spans: %d under the request, %d under the enqueue; spans %+v", redisUnderServer, redisUnderEnqueue, spans)
	}
	if want := "00-" + traceID + "-" + enqueue.SpanID + "-01"; entry["traceparent"] != want {
		t.Errorf("entry traceparent %v, want the enqueue span's %s", entry["traceparent"], want)
	}
}
