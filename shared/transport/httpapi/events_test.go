package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// modes builds the same event in binary and structured mode.
var modes = map[string]func(h *harness, path, typ, id, data string) *http.Request{
	"binary": func(h *harness, path, typ, id, data string) *http.Request { return h.binary(path, typ, id, data) },
	"structured": func(h *harness, path, typ, id, data string) *http.Request {
		return h.structured(path, typ, id, data, nil)
	},
}

func TestEventReplies(t *testing.T) {
	t.Parallel()
	for mode, build := range modes {
		for _, f := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs, transport.FunctionCombined} {
			t.Run(mode+"/"+string(f), func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, f)
				sub, err := h.svc.Execute(t.Context(), executeCommand(t))
				if err != nil {
					t.Fatal(err)
				}
				cases := map[transport.Function][]struct{ in, data, out, key string }{
					transport.FunctionExecute: {{transport.TypeExecuteRequested, validRequest, deliberation.TypeSubmitted, "deliberation_id"}},
					transport.FunctionStatus:  {{transport.TypeStatusRequested, `{"deliberation_id":"` + sub.DeliberationID + `"}`, transport.TypeStatus, "status"}},
					transport.FunctionStats:   {{transport.TypeStatsRequested, `{}`, transport.TypeStats, "stats"}, {transport.TypeStatsRequested, "", transport.TypeStats, "stats"}},
					transport.FunctionJobs:    {{transport.TypeJobsRequested, `{"limit":5}`, transport.TypeJobs, "jobs"}, {transport.TypeJobsRequested, `{}`, transport.TypeJobs, "jobs"}},
				}
				for _, fn := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs} {
					cases[transport.FunctionCombined] = append(cases[transport.FunctionCombined], cases[fn]...)
				}
				for i, c := range cases[f] {
					data := h.do(build(h, "/", c.in, fmt.Sprintf("evt-%d", i), c.data)).reply(t, c.out)
					if _, ok := data[c.key]; !ok {
						t.Errorf("%s reply lacks %s: %v", c.out, c.key, data)
					}
				}
			})
		}
	}
}

func TestEventReplyIDsAreUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStats)
	seen := map[string]bool{}
	for i := range 5 {
		got := h.do(h.binary("/", transport.TypeStatsRequested, "same", "{}"))
		got.reply(t, transport.TypeStats)
		if id := got.header.Get("Ce-Id"); seen[id] {
			t.Fatalf("reply %d reused ce-id %s", i, id)
		} else {
			seen[id] = true
		}
	}
}

func TestStatusEventNotFoundIsAReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	const id = "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	for mode, build := range modes {
		data := h.do(build(h, "/", transport.TypeStatusRequested, "e1", `{"deliberation_id":"`+id+`"}`)).reply(t, transport.TypeStatus)
		if data["status"] != "not_found" || data["deliberation_id"] != id {
			t.Errorf("%s: reply %v", mode, data)
		}
	}
}

func TestBadEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	noSource := h.binary("/", transport.TypeStatusRequested, "e1", `{"deliberation_id":"x"}`)
	noSource.Header.Del("ce-source")
	batch := h.request(http.MethodPost, "/", `[]`, "Content-Type", "application/cloudevents-batch+json")
	broken := h.request(http.MethodPost, "/", `{"specversion":`, "Content-Type", "application/cloudevents+json")
	text := h.binary("/", transport.TypeStatusRequested, "e1", `hello`, "Content-Type", "text/plain")
	cases := map[string]struct {
		req    *http.Request
		status int
		fields []string
	}{
		"missing source":    {noSource, http.StatusBadRequest, []string{"event"}},
		"batch":             {batch, http.StatusBadRequest, []string{"event"}},
		"broken structured": {broken, http.StatusBadRequest, []string{"event"}},
		"unknown type":      {h.binary("/", "com.example.other", "e1", `{}`), http.StatusBadRequest, []string{"type"}},
		"other use case":    {h.binary("/", transport.TypeExecuteRequested, "e1", validRequest), http.StatusBadRequest, []string{"type"}},
		"invalid id":        {h.binary("/", transport.TypeStatusRequested, "e1", `{"deliberation_id":"../../x"}`), http.StatusBadRequest, []string{"deliberation_id"}},
		"unknown data":      {h.binary("/", transport.TypeStatusRequested, "e1", `{"id":"x"}`), http.StatusBadRequest, []string{"id"}},
		"no data":           {h.binary("/", transport.TypeStatusRequested, "e1", ``), http.StatusBadRequest, []string{"data"}},
		"not JSON":          {text, http.StatusUnsupportedMediaType, []string{}},
	}
	for name, tc := range cases {
		if fields := h.do(tc.req).problem(t, tc.status); !slices.Equal(fields, tc.fields) {
			t.Errorf("%s: fields %v, want %v", name, fields, tc.fields)
		}
	}
	if got := h.call(http.MethodPost, "/", `{"deliberation_id":"x"}`); got.status != http.StatusUnsupportedMediaType {
		t.Errorf("plain JSON POST to the status function: %d", got.status)
	}
}

// TestDuplicateDeliveries: a Broker delivers at least once; 20 concurrent copies of one event make
// one deliberation and one Ray job, and every copy is answered with the same id.
func TestDuplicateDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			build := modes[[]string{"binary", "structured"}[i%2]]
			got := h.do(build(h, "/", transport.TypeExecuteRequested, "delivery-1", validRequest))
			if got.status == http.StatusOK {
				ids[i], _ = got.json(t)["deliberation_id"].(string)
			}
		})
	}
	wg.Wait()
	if ids[0] == "" || slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
		t.Fatalf("replies name %v, want one id 20 times", ids)
	}
	stats, _ := h.svc.Stats(t.Context())
	if stats.Stats.TotalDeliberations != 1 || len(h.ray.Calls("Submit")) != 1 {
		t.Errorf("%d deliberations and %d Ray submissions, want 1 and 1", stats.Stats.TotalDeliberations, len(h.ray.Calls("Submit")))
	}
	other := h.do(h.binary("/", transport.TypeExecuteRequested, "delivery-2", validRequest)).reply(t, deliberation.TypeSubmitted)
	if other["deliberation_id"] == ids[0] {
		t.Errorf("another event id must make another deliberation")
	}
	changed := strings.Replace(validRequest, "Implement the cache", "Other task", 1)
	h.do(h.binary("/", transport.TypeExecuteRequested, "delivery-1", changed)).problem(t, http.StatusUnprocessableEntity)
}

func TestWakeAndReconcileHooks(t *testing.T) {
	t.Parallel()
	var woken []string
	reconciled := 0
	h := newHarness(t, transport.FunctionStatus, func(_ *httpapi.Options, b *transport.Backend) {
		b.Wake = transport.WakeFunc(func(_ context.Context, id string) error { woken = append(woken, id); return nil })
		b.Reconcile = transport.ReconcileFunc(func(context.Context) error { reconciled++; return nil })
	})
	const id = "delib-aaaaaaaaaaaaaaaaaaaaaaaaab"
	for mode, build := range modes {
		got := h.do(build(h, "/", deliberation.TypeFinished, "w-"+mode, `{"deliberation_id":"`+id+`"}`))
		if got.status != http.StatusOK || len(got.body) != 0 {
			t.Errorf("%s wake-up: %d %q", mode, got.status, got.body)
		}
		if got := h.do(build(h, "/", transport.TypePing, "p-"+mode, `{"message":"tick"}`)); got.status != http.StatusOK || len(got.body) != 0 {
			t.Errorf("%s ping: %d %q", mode, got.status, got.body)
		}
	}
	if !slices.Equal(woken, []string{id, id}) || reconciled != 2 {
		t.Errorf("woken %v, reconciled %d", woken, reconciled)
	}
	stats := newHarness(t, transport.FunctionStats)
	stats.do(stats.binary("/", deliberation.TypeFinished, "w", `{"deliberation_id":"`+id+`"}`)).problem(t, http.StatusBadRequest)
	stats.do(stats.binary("/", transport.TypePing, "p", `{"message":"tick"}`)).problem(t, http.StatusBadRequest)
}

func TestHookFailuresAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus, func(_ *httpapi.Options, b *transport.Backend) {
		b.Reconcile = transport.ReconcileFunc(func(context.Context) error {
			return unavailableErr
		})
	})
	got := h.do(h.binary("/", transport.TypePing, "p", ``))
	got.problem(t, http.StatusServiceUnavailable)
	if got.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

func TestTraceContextPassesThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStats)
	const fromEvent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	cases := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"http header", h.binary("/", transport.TypeStatsRequested, "t1", `{}`, "traceparent", traceparent), traceparent},
		{"binary extension", h.binary("/", transport.TypeStatsRequested, "t2", `{}`, "traceparent", traceparent, "ce-traceparent", fromEvent), fromEvent},
		{"structured extension", h.structured("/", transport.TypeStatsRequested, "t3", `{}`, map[string]string{"traceparent": fromEvent, "tracestate": "a=b"}), fromEvent},
		{"malformed dropped", h.binary("/", transport.TypeStatsRequested, "t4", `{}`, "ce-traceparent", "00-zz-1-01"), ""},
	}
	for _, tc := range cases {
		got := h.do(tc.req)
		got.reply(t, transport.TypeStats)
		if echoed := got.header.Get("Ce-Traceparent"); echoed != tc.want {
			t.Errorf("%s: echoed %q, want %q", tc.name, echoed, tc.want)
		}
	}
	if !strings.Contains(h.logs.String(), `"traceparent":"`+fromEvent+`"`) || strings.Contains(h.logs.String(), "00-zz-1-01") {
		t.Errorf("logs must carry valid trace context only:\n%s", h.logs.String())
	}
}

var unavailableErr = deliberation.Unavailable(errors.New("connection refused"), "state store unavailable")
