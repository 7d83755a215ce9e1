package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

const validRequest = `{"task_id":"task-1","task_description":"Implement the cache","role":"DEV",
 "constraints":{"story_id":"story-1"},
 "agents":[{"agent_id":"a1","role":"DEV","model":"m1"},{"agent_id":"a2","role":"QA","model":"m2"}],
 "vllm_url":"http://127.0.0.1:8000","vllm_model":"judge"}`

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// harness is one handler set over the real use cases with in-memory ports.
type harness struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *app.Service
	store *fakes.Store
	ray   *fakes.Ray
	logs  *testenv.Buffer
}

type option func(*httpapi.Options, *transport.Backend)

func withToken(token string) option {
	return func(o *httpapi.Options, _ *transport.Backend) { o.APIToken = token }
}

// useCases are the five use cases *app.Service and the test doubles implement.
type useCases interface {
	transport.Executor
	transport.StatusReader
	transport.Canceller
	transport.StatsReader
	transport.JobsLister
}

func withUseCases(u useCases) option {
	return func(_ *httpapi.Options, b *transport.Backend) {
		b.Execute, b.Status, b.Cancel, b.Stats, b.Jobs = u, u, u, u, u
	}
}

// backendOf is every use case of u, a wake-up that reads the status, and a reconcile pass that
// does nothing: what the combined function serves.
func backendOf(u useCases) transport.Backend {
	b := transport.Backend{Wake: transport.WakeFunc(func(ctx context.Context, id string) error {
		_, err := u.Status(ctx, id)
		return err
	}), Reconcile: transport.ReconcileFunc(func(context.Context) error { return nil })}
	withUseCases(u)(nil, &b)
	return b
}

func newHarness(t *testing.T, f transport.Function, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, store: fakes.NewStore(), ray: &fakes.Ray{}, logs: &testenv.Buffer{}}
	settings := app.DefaultSettings()
	settings.CheckPeriod = 0
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	h.svc = app.NewService(h.store, h.ray, nil, settings, nil)
	h.svc.IDs = &fakes.IDs{}
	log := observe.WithTraceLogging(slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	o := httpapi.Options{Function: f, MaxBodyBytes: 64 << 10, Log: log}
	b := backendOf(h.svc)
	for _, opt := range opts {
		opt(&o, &b)
	}
	handler, err := httpapi.NewHandler(b, o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

// executeCommand is validRequest as the use case receives it.
func executeCommand(t *testing.T) app.ExecuteCommand {
	t.Helper()
	var cmd app.ExecuteCommand
	if err := json.Unmarshal([]byte(validRequest), &cmd.Input); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", r.status, err, r.body)
	}
	return m
}

// problem checks a problem+json answer and returns its field names.
func (r response) problem(t *testing.T, status int) []string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
		Errors              []struct{ Field, Message string }
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != status || p.Type == "" || p.Title == "" || p.Errors == nil {
		t.Fatalf("not a problem document (%v): %s", err, r.body)
	}
	fields := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		fields[i] = e.Field
	}
	return fields
}

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// request builds a request; headers come in name, value pairs.
func (h *harness) request(method, path, body string, headers ...string) *http.Request {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func (h *harness) call(method, path, body string, headers ...string) response {
	h.t.Helper()
	return h.do(h.request(method, path, body, headers...))
}

// binary builds a binary-mode CloudEvent POSTed to path.
func (h *harness) binary(path, typ, id, data string, headers ...string) *http.Request {
	h.t.Helper()
	req := h.request(http.MethodPost, path, data, append([]string{"ce-specversion", "1.0", "ce-type", typ,
		"ce-source", "/test/source", "ce-id", id}, headers...)...)
	if data == "" {
		req.Header.Del("Content-Type")
	}
	return req
}

// structured builds a structured-mode CloudEvent POSTed to path.
func (h *harness) structured(path, typ, id, data string, ext map[string]string) *http.Request {
	h.t.Helper()
	e := map[string]any{"specversion": "1.0", "type": typ, "source": "/test/source", "id": id}
	if data != "" {
		e["datacontenttype"] = "application/json"
		e["data"] = json.RawMessage(data)
	}
	for k, v := range ext {
		e[k] = v
	}
	raw, err := json.Marshal(e)
	if err != nil {
		h.t.Fatal(err)
	}
	req := h.request(http.MethodPost, path, string(raw))
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	return req
}

// reply checks a binary-mode reply event and returns its data.
func (r response) reply(t *testing.T, typ string) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	for name, want := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": typ, "Content-Type": "application/json"} {
		if got := r.header.Get(name); got != want {
			t.Fatalf("%s = %q, want %q (headers %v)", name, got, want, r.header)
		}
	}
	if r.header.Get("Ce-Id") == "" || !strings.HasPrefix(r.header.Get("Ce-Source"), "/rayexecutor/") {
		t.Fatalf("reply lacks id or source: %v", r.header)
	}
	return r.json(t)
}
