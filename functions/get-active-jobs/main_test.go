package main

import (
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/shared/transport"
)

func TestMain(m *testing.M) { os.Exit(functest.Main(m)) }

func TestActiveJobs(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	ids := stack.Seed(t, 3)
	env := stack.Env(map[string]string{"API_TOKEN": "test-token-4"})
	delete(env, "RAY_ADDRESS")
	fn := functest.Start(t, functest.Build(t), env)
	auth := []string{"Authorization", "Bearer test-token-4"}

	var seen []string
	cursor := ""
	for page := 0; page < 3; page++ {
		got := functest.Call(t, http.MethodGet, fn.URL+"/?limit=2&cursor="+url.QueryEscape(cursor), "", auth...)
		body := got.JSON(t)
		jobs, _ := body["jobs"].([]any)
		for _, j := range jobs {
			job := j.(map[string]any)
			if job["status"] != "PENDING" && job["status"] != "RUNNING" || job["task_id"] != "task-1" {
				t.Errorf("job %v", job)
			}
			seen = append(seen, job["submission_id"].(string))
		}
		if cursor, _ = body["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("pages listed %v, want %v oldest first", seen, ids)
	}
	for mode, build := range functest.Modes {
		data := functest.Do(t, build(t, fn.URL+"/", transport.TypeJobsRequested, "j-"+mode, `{"limit":1}`, auth...)).Reply(t, transport.TypeJobs)
		if jobs, _ := data["jobs"].([]any); len(jobs) != 1 || data["next_cursor"] == "" {
			t.Errorf("%s reply %v", mode, data)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=..%2F..%2Fx"} {
		functest.Call(t, http.MethodGet, fn.URL+"/?"+q, "", auth...).Problem(t, http.StatusBadRequest)
	}
	functest.Call(t, http.MethodGet, fn.URL+"/", "").Problem(t, http.StatusUnauthorized)
	functest.Call(t, http.MethodDelete, fn.URL+"/", "", auth...).Problem(t, http.StatusMethodNotAllowed)
}
