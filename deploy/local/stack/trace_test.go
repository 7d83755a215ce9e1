package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/otlptest"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// TestStackTracesOneDeliberation is `make run` with an OTLP endpoint, in the serve dispatch, on the
// tests' Ray head: one deliberation of N agents, begun with the caller's traceparent, is one
// trace on the receiver, from the execute request through Redis and the enqueue to the runner's
// queue wait, deliberation, agents and their model calls (the fake model server got each call's
// own span as parent), the judge, the stored result and the wake-up, whose CloudEvent the status
// function continues up to the lifecycle event it publishes. Serve's config is one per cluster:
// the test holds the head's Serve lock while its runner is deployed there.
func TestStackTracesOneDeliberation(t *testing.T) {
	addr := raytest.RealAddress(t)
	unlock, err := raytest.LockServe(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	// The runner the stack deploys stays on the head after the stack stops: removed, still locked.
	serve, err := rayserve.NewClient(addr, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.DeleteAll(context.Background()) })
	root := repoRoot(t)
	redis := testenv.StartRedis(t)
	nats := testenv.StartNATS(t)
	bin := binDir(t, root)
	model := modelserver.New(t)
	recv := otlptest.Start(t)
	l := startLauncher(t, filepath.Join(bin, "stack"), root, map[string]string{
		"REDIS_URL": redis.URL(), "NATS_URL": nats.URL(), "RAY_ADDRESS": addr, "API_TOKEN": token,
		"RAY_DISPATCH": "serve", "REDIS_KEY_PREFIX": raytest.UniqueID("trace"), "VLLM_URL_ALLOWLIST": model.URL(),
		"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL(), "OTEL_BSP_SCHEDULE_DELAY": "50",
	}, "-bin-dir", bin)
	l.waitUp(t, 5*time.Minute)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const caller = "00f067aa0ba902b7"
	model.SetBehavior("m1", modelserver.Behavior{Answer: "a traced proposal"})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url("execute")+"/", strings.NewReader(exampleFor(model.URL())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("traceparent", "00-"+traceID+"-"+caller+"-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("execute answered %d", res.StatusCode)
	}
	const agents = 2 // exampleFor's m1 and m2

	trace := func(spans []otlptest.Span) []otlptest.Span {
		return slices.DeleteFunc(slices.Clone(spans), func(s otlptest.Span) bool { return s.TraceID != traceID })
	}
	published := func(s otlptest.Span) bool {
		return strings.HasSuffix(s.Name, " publish") && !strings.Contains(s.Name, ".submitted ")
	}
	// The runner's batches come apart from the functions': wait for the last of its spans (the
	// deliberation ends after its wake-up) and for the lifecycle event.
	spans := trace(recv.Wait(3*time.Minute, func(all []otlptest.Span) bool {
		got := trace(all)
		return slices.ContainsFunc(got, published) &&
			slices.ContainsFunc(got, func(s otlptest.Span) bool { return s.Name == "deliberation" })
	}))
	byName := map[string][]otlptest.Span{}
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
		byID[s.SpanID] = s
	}
	var lines []string
	for _, s := range spans {
		lines = append(lines, fmt.Sprintf("%s %s/%s parent %s", s.Service, s.Name, s.SpanID, s.ParentID))
	}
	slices.Sort(lines)
	t.Logf("trace %s, %d spans:\n%s", traceID, len(spans), strings.Join(lines, "\n"))
	if !slices.ContainsFunc(spans, published) {
		t.Fatalf("no lifecycle event after the submitted one on the trace")
	}

	one := func(name string) otlptest.Span {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("want one %q span on the trace, got %d", name, len(byName[name]))
		}
		return byName[name][0]
	}
	// parentIs says whether child descends from ancestor (the functions' spans between them vary).
	descends := func(child, ancestor otlptest.Span) bool {
		for s, ok := child, true; ok; s, ok = byID[s.ParentID] {
			if s.ParentID == ancestor.SpanID {
				return true
			}
		}
		return false
	}
	request, enqueue := one("POST execute"), one("runner enqueue")
	wait, deliberation, judge := one("runner queue wait"), one("deliberation"), one("judge")
	store, wakeup := one("runner store result"), one("wake-up")
	switch {
	case request.ParentID != caller || request.Kind != tracepb.Span_SPAN_KIND_SERVER:
		t.Errorf("request span %+v: want the caller's child", request)
	case !descends(enqueue, request):
		t.Errorf("enqueue %+v is not under the request", enqueue)
	case wait.ParentID != enqueue.SpanID || deliberation.ParentID != wait.SpanID:
		t.Errorf("queue wait %+v, deliberation %+v: want enqueue > queue wait > deliberation", wait, deliberation)
	case wait.Service != "deliberation-runner":
		t.Errorf("the runner's spans name service %q", wait.Service)
	case judge.ParentID != deliberation.SpanID || store.ParentID != deliberation.SpanID || wakeup.ParentID != deliberation.SpanID:
		t.Errorf("judge, store and wake-up must be the deliberation's children: %+v %+v %+v", judge, store, wakeup)
	}
	if n := len(byName["agent"]); n != agents {
		t.Fatalf("want %d agent spans, got %d", agents, n)
	}
	var calls []otlptest.Span
	for _, a := range byName["agent"] {
		if a.ParentID != deliberation.SpanID {
			t.Errorf("agent %v is not the deliberation's child", a.Attributes)
		}
		for _, s := range spans {
			if s.ParentID == a.SpanID && strings.HasPrefix(s.Name, "chat ") {
				calls = append(calls, s)
			}
		}
	}
	for _, s := range spans {
		if s.ParentID == judge.SpanID && strings.HasPrefix(s.Name, "chat ") {
			calls = append(calls, s)
		}
	}
	if len(calls) != agents+1 {
		t.Errorf("want a model call span per agent and the judge's, got %d", len(calls))
	}
	// The fake model server saw each call's span as the parent of its request.
	var sent, want []string
	for _, r := range model.Requests() {
		sent = append(sent, r.Header.Get("traceparent"))
	}
	for _, c := range calls {
		want = append(want, "00-"+traceID+"-"+c.SpanID+"-01")
	}
	slices.Sort(sent)
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Errorf("the model server got traceparents %v, want %v", sent, want)
	}
	// The status function continues the wake-up's CloudEvent (its ce-traceparent), and its record
	// of the outcome publishes the lifecycle event under it.
	event := one("event dev.rayexecutor.deliberation.finished.v1")
	if event.ParentID != wakeup.SpanID || event.Service != "get-deliberation-status" {
		t.Errorf("the finished event's span %+v does not continue the wake-up %s", event, wakeup.SpanID)
	}
	if !slices.ContainsFunc(spans, func(s otlptest.Span) bool { return published(s) && descends(s, event) }) {
		t.Errorf("no lifecycle event published under the finished event")
	}
	if len(spans) < agents+5 {
		t.Errorf("%d spans on the trace, want at least N+5 = %d", len(spans), agents+5)
	}
	if os.Getenv("RAYEXEC_TRACE_REPORT") != "" {
		_ = os.WriteFile(os.Getenv("RAYEXEC_TRACE_REPORT"), []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	}
	l.interrupt(stopWithin)
}
