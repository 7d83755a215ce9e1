package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/transport"
)

func TestExecuteHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    transport.Function
		path string
	}{{transport.FunctionExecute, "/"}, {transport.FunctionCombined, "/deliberations"}} {
		t.Run(string(tc.f), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.f)
			first := h.call(http.MethodPost, tc.path, validRequest, "Idempotency-Key", "key-1")
			if first.status != http.StatusAccepted {
				t.Fatalf("first submit: %d %s", first.status, first.body)
			}
			got := first.json(t)
			if got["status"] != "submitted" || got["task_id"] != "task-1" || got["message"] != "Deliberation submitted to Ray cluster" {
				t.Errorf("execute response %v", got)
			}
			replay := h.call(http.MethodPost, tc.path, validRequest, "Idempotency-Key", "key-1")
			if replay.status != http.StatusOK || replay.json(t)["deliberation_id"] != got["deliberation_id"] {
				t.Errorf("replay: %d %s", replay.status, replay.body)
			}
			other := strings.Replace(validRequest, "Implement the cache", "Something else", 1)
			h.call(http.MethodPost, tc.path, other, "Idempotency-Key", "key-1").problem(t, http.StatusUnprocessableEntity)
			if n := len(h.ray.Calls("Submit")); n != 1 {
				t.Errorf("Ray got %d submissions, want 1", n)
			}
		})
	}
}

func TestExecuteListsEveryFieldProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	body := `{"task_id":"bad id!","task_description":"","role":"DEV","constraints":{"story_id":"","timeout_seconds":-5},
	 "agents":[{"agent_id":"a1","role":"DEV","model":""},{"agent_id":"a1","role":"QA","model":"m"}],
	 "vllm_url":"ftp://x","vllm_model":"judge"}`
	fields := h.call(http.MethodPost, "/", body).problem(t, http.StatusBadRequest)
	for _, want := range []string{"task_id", "task_description", "constraints.story_id", "constraints.timeout_seconds",
		"agents[0].model", "agents[1].agent_id", "vllm_url"} {
		if !slices.Contains(fields, want) {
			t.Errorf("problem lacks field %s: %v", want, fields)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	cases := []struct {
		name, body, field string
	}{
		{"unknown field", strings.Replace(validRequest, `"role":"DEV",`, `"role":"DEV","rolee":"x",`, 1), "rolee"},
		{"type error", strings.Replace(validRequest, `"story_id":"story-1"`, `"story_id":"story-1","timeout_seconds":"300"`, 1), "constraints.timeout_seconds"},
		{"trailing data", validRequest + ` {"again":1}`, "body"},
		{"not an object", `[1,2]`, "body"},
		{"malformed", `{"task_id":`, "body"},
		{"empty", ` `, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := h.call(http.MethodPost, "/", tc.body).problem(t, http.StatusBadRequest)
			if !slices.Equal(fields, []string{tc.field}) {
				t.Errorf("fields %v, want [%s]", fields, tc.field)
			}
		})
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionExecute)
	for name, values := range map[string][]string{"empty": {""}, "twice": {"a", "b"}, "too long": {strings.Repeat("k", 256)}, "non-ASCII": {"clé"}} {
		req := h.request(http.MethodPost, "/", validRequest)
		req.Header["Idempotency-Key"] = values
		if fields := h.do(req).problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"Idempotency-Key"}) {
			t.Errorf("%s: fields %v", name, fields)
		}
	}
}

func TestStatusHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined)
	id := h.call(http.MethodPost, "/deliberations", validRequest).json(t)["deliberation_id"].(string)
	for _, tc := range []struct {
		f    transport.Function
		path string
	}{
		{transport.FunctionStatus, "/" + id},
		{transport.FunctionStatus, "/?deliberation_id=" + id},
		{transport.FunctionCombined, "/deliberations/" + id},
	} {
		s := newHarness(t, tc.f, withUseCases(h.svc))
		got := s.call(http.MethodGet, tc.path, "")
		if got.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", tc.f, tc.path, got.status, got.body)
		}
		rep := got.json(t)
		if rep["deliberation_id"] != id || rep["status"] != "submitted" || rep["total_agents"] != 2.0 || rep["submitted_at"] == nil {
			t.Errorf("%s %s: report %v", tc.f, tc.path, rep)
		}
	}
}

func TestStatusNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	const id = "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	got := h.call(http.MethodGet, "/"+id, "")
	rep := got.json(t)
	if got.status != http.StatusNotFound || rep["status"] != "not_found" || rep["error_message"] != "Deliberation "+id+" not found" {
		t.Errorf("not found: %d %v", got.status, rep)
	}
	if fields := h.call(http.MethodGet, "/", "").problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"deliberation_id"}) {
		t.Errorf("missing id: fields %v", fields)
	}
}

// TestHostileIDs: whatever the id, the answer is 400 or 404, never a 500, and nothing of it is logged.
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	c := newHarness(t, transport.FunctionCombined)
	long := strings.Repeat("a", 5000)
	for _, path := range []string{
		"/..%2F..%2Fx", "/?deliberation_id=" + url.QueryEscape("../../x"), "/" + long, "/?deliberation_id=" + long,
		"/%00", "/?deliberation_id=%00", "/delib-AAAAAAAAAAAAAAAAAAAAAAAAAA", "/a/b",
	} {
		got := h.call(http.MethodGet, path, "")
		if got.status != http.StatusBadRequest && got.status != http.StatusNotFound {
			t.Errorf("GET %.60s: %d %s", path, got.status, got.body)
		}
		got = c.call(http.MethodGet, "/deliberations"+strings.TrimPrefix(path, "/?deliberation_id="), "")
		if got.status != http.StatusBadRequest && got.status != http.StatusNotFound {
			t.Errorf("combined GET %.60s: %d", path, got.status)
		}
	}
	if strings.Contains(h.logs.String(), long) || strings.Contains(h.logs.String(), "../../x") {
		t.Errorf("a hostile id reached the log")
	}
}

func TestStatsHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    transport.Function
		path string
	}{{transport.FunctionStats, "/"}, {transport.FunctionCombined, "/stats"}} {
		h := newHarness(t, tc.f)
		if _, err := h.svc.Execute(t.Context(), executeCommand(t)); err != nil {
			t.Fatal(err)
		}
		got := h.call(http.MethodGet, tc.path, "")
		rep := got.json(t)
		stats, _ := rep["stats"].(map[string]any)
		if got.status != http.StatusOK || rep["status"] != "healthy" || stats["total_deliberations"] != 1.0 || stats["active_deliberations"] != 1.0 {
			t.Errorf("%s: %d %v", tc.f, got.status, rep)
		}
	}
}

func TestJobsHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionJobs)
	for range 3 {
		if _, err := h.svc.Execute(t.Context(), executeCommand(t)); err != nil {
			t.Fatal(err)
		}
	}
	page := h.call(http.MethodGet, "/?limit=2", "").json(t)
	jobs, _ := page["jobs"].([]any)
	if len(jobs) != 2 || page["next_cursor"] == "" {
		t.Fatalf("first page %v", page)
	}
	next := h.call(http.MethodGet, "/?limit=2&cursor="+url.QueryEscape(page["next_cursor"].(string)), "").json(t)
	if rest, _ := next["jobs"].([]any); len(rest) != 1 || next["next_cursor"] != "" {
		t.Errorf("second page %v", next)
	}
	all := h.call(http.MethodGet, "/", "").json(t)
	if jobs, _ := all["jobs"].([]any); len(jobs) != 3 || jobs[0].(map[string]any)["status"] != "PENDING" {
		t.Errorf("default page %v", all)
	}
	c := newHarness(t, transport.FunctionCombined)
	if got := c.call(http.MethodGet, "/jobs", ""); got.status != http.StatusOK {
		t.Errorf("combined /jobs: %d", got.status)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "limit=-1"} {
		if fields := h.call(http.MethodGet, "/?"+q, "").problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"limit"}) {
			t.Errorf("%s: fields %v", q, fields)
		}
	}
	if fields := h.call(http.MethodGet, "/?cursor=..%2Fx", "").problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"cursor"}) {
		t.Errorf("bad cursor: fields %v", fields)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f            transport.Function
		method, path string
		allow        string
	}{
		{transport.FunctionExecute, http.MethodGet, "/", "POST"},
		{transport.FunctionStats, http.MethodDelete, "/", "GET, POST"},
		{transport.FunctionStatus, http.MethodPut, "/delib-aaaaaaaaaaaaaaaaaaaaaaaaaa", "DELETE, GET"},
		{transport.FunctionCombined, http.MethodPut, "/deliberations/delib-aaaaaaaaaaaaaaaaaaaaaaaaaa", "DELETE, GET"},
		{transport.FunctionCombined, http.MethodPost, "/stats", "GET"},
		{transport.FunctionCombined, http.MethodGet, "/", "POST"},
		{transport.FunctionJobs, http.MethodPost, "/metrics", "GET"},
	}
	for _, tc := range cases {
		h := newHarness(t, tc.f)
		got := h.call(tc.method, tc.path, "")
		got.problem(t, http.StatusMethodNotAllowed)
		if got.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s %s: Allow %q, want %q", tc.f, tc.method, tc.path, got.header.Get("Allow"), tc.allow)
		}
	}
	newHarness(t, transport.FunctionCombined).call(http.MethodGet, "/nothing/here", "").problem(t, http.StatusNotFound)
}
