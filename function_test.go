package function

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/transport"
)

const validRequest = `{"task_id":"task-1","task_description":"Implement the cache","role":"DEV",
 "constraints":{"story_id":"story-1"},"agents":[{"agent_id":"a1","role":"DEV","model":"m1"}],
 "vllm_url":"http://127.0.0.1:8000","vllm_model":"judge"}`

// TestCombined runs the instance `func build` wraps, over miniredis and the fake Ray, through
// every path of the combined function and the CloudEvents it routes by type.
func TestCombined(t *testing.T) {
	t.Parallel()
	redis := miniredis.RunT(t)
	ray := raytest.Start(t)
	inst := New()
	srv := httptest.NewServer(http.HandlerFunc(inst.Handle))
	t.Cleanup(srv.Close)
	if ready, _ := inst.Ready(t.Context()); ready {
		t.Fatal("ready before Start")
	}
	if err := inst.Start(t.Context(), map[string]string{"REDIS_URL": "redis://" + redis.Addr(), "RAY_DISPATCH": "jobs", "RAY_ADDRESS": ray.URL(), "LOG_LEVEL": "error",
		"VLLM_URL_ALLOWLIST": "http://127.0.0.1:8000"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Stop(t.Context()) })

	status, body := call(t, http.MethodPost, srv.URL+"/deliberations", validRequest, "Content-Type", "application/json")
	id, _ := body["deliberation_id"].(string)
	if status != http.StatusAccepted || id == "" {
		t.Fatalf("execute: %d %v", status, body)
	}
	checks := []struct {
		method, path, body string
		headers            []string
		status             int
		key, want          string
	}{
		{http.MethodGet, "/deliberations/" + id, "", nil, http.StatusOK, "deliberation_id", id},
		{http.MethodGet, "/deliberations/delib-aaaaaaaaaaaaaaaaaaaaaaaaaa", "", nil, http.StatusNotFound, "status", "not_found"},
		{http.MethodGet, "/stats", "", nil, http.StatusOK, "status", "healthy"},
		{http.MethodGet, "/jobs?limit=5", "", nil, http.StatusOK, "next_cursor", ""},
		{http.MethodPost, "/", `{"deliberation_id":"` + id + `"}`, event(transport.TypeStatusRequested), http.StatusOK, "deliberation_id", id},
		{http.MethodPost, "/", `{}`, event(transport.TypeStatsRequested), http.StatusOK, "status", "healthy"},
		{http.MethodPost, "/", `{}`, event(transport.TypeJobsRequested), http.StatusOK, "next_cursor", ""},
		{http.MethodPost, "/", validRequest, event(transport.TypeExecuteRequested), http.StatusOK, "status", "submitted"},
	}
	for _, c := range checks {
		status, body := call(t, c.method, srv.URL+c.path, c.body, c.headers...)
		if status != c.status || body[c.key] != c.want {
			t.Errorf("%s %s %v: %d %v", c.method, c.path, c.headers, status, body)
		}
	}
	if n := len(ray.Jobs()); n != 2 {
		t.Errorf("%d Ray jobs, want 2", n)
	}
}

func event(typ string) []string {
	return []string{"Content-Type", "application/json", "ce-specversion", "1.0", "ce-type", typ, "ce-source", "/test", "ce-id", typ}
}

func call(t *testing.T, method, url, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	return res.StatusCode, m
}
