package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func TestMain(m *testing.M) { os.Exit(functest.Main(m)) }

const (
	token   = "test-token-2"
	unknown = "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"
)

var auth = []string{"Authorization", "Bearer " + token}

func TestStatus(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	id := stack.Seed(t, 1)[0]
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"API_TOKEN": token}))

	for _, path := range []string{"/" + id, "/?deliberation_id=" + id} {
		t.Run("GET "+path, func(t *testing.T) {
			got := functest.Call(t, http.MethodGet, fn.URL+path, "", auth...)
			rep := got.JSON(t)
			if got.Status != http.StatusOK || rep["deliberation_id"] != id || rep["task_id"] != "task-1" ||
				(rep["status"] != "submitted" && rep["status"] != "running") || rep["submission_id"] != id {
				t.Errorf("%d %v", got.Status, rep)
			}
		})
	}
	t.Run("404 not_found", func(t *testing.T) {
		got := functest.Call(t, http.MethodGet, fn.URL+"/"+unknown, "", auth...)
		if rep := got.JSON(t); got.Status != http.StatusNotFound || rep["status"] != "not_found" || rep["deliberation_id"] != unknown {
			t.Errorf("%d %v", got.Status, rep)
		}
	})
	for mode, build := range functest.Modes {
		t.Run(mode+" CloudEvent", func(t *testing.T) {
			data := functest.Do(t, build(t, fn.URL+"/", transport.TypeStatusRequested, "s-"+mode, `{"deliberation_id":"`+id+`"}`, auth...)).
				Reply(t, transport.TypeStatus)
			if data["deliberation_id"] != id {
				t.Errorf("reply %v", data)
			}
			missing := functest.Do(t, build(t, fn.URL+"/", transport.TypeStatusRequested, "m-"+mode, `{"deliberation_id":"`+unknown+`"}`, auth...)).
				Reply(t, transport.TypeStatus)
			if missing["status"] != "not_found" {
				t.Errorf("not found reply %v", missing)
			}
		})
		t.Run(mode+" forged wake-up changes nothing", func(t *testing.T) {
			forged := functest.Do(t, build(t, fn.URL+"/", deliberation.TypeFinished, "f-"+mode, `{"deliberation_id":"`+unknown+`"}`))
			if forged.Status != http.StatusOK || len(forged.Body) != 0 {
				t.Errorf("wake-up of an unknown id: %d %s", forged.Status, forged.Body)
			}
		})
	}
	t.Run("hostile ids", func(t *testing.T) {
		long := strings.Repeat("a", 5000)
		for _, path := range []string{"/..%2F..%2Fx", "/../../x", "/?deliberation_id=" + url.QueryEscape("../../x"), "/" + long,
			"/?deliberation_id=" + long, "/%00", "/?deliberation_id=%00"} {
			got := functest.Call(t, http.MethodGet, fn.URL+path, "", auth...)
			if got.Status != http.StatusBadRequest && got.Status != http.StatusNotFound {
				t.Errorf("GET %.40s: %d %s", path, got.Status, got.Body)
			}
		}
		time.Sleep(3 * wiring.LogFlushEvery) // the function writes its log lines in batches
		if strings.Contains(fn.Logs(), long) {
			t.Error("a hostile id reached the log")
		}
	})
	t.Run("401", func(t *testing.T) {
		functest.Call(t, http.MethodGet, fn.URL+"/"+id, "").Problem(t, http.StatusUnauthorized)
		functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeStatusRequested, "x", `{"deliberation_id":"`+id+`"}`)).
			Problem(t, http.StatusUnauthorized)
	})
	t.Run("405", func(t *testing.T) {
		got := functest.Call(t, http.MethodPut, fn.URL+"/"+id, "", auth...)
		got.Problem(t, http.StatusMethodNotAllowed)
		if got.Header.Get("Allow") != "DELETE, GET" {
			t.Errorf("Allow %q", got.Header.Get("Allow"))
		}
	})
	t.Run("bad events are 400", func(t *testing.T) {
		functest.Do(t, functest.Binary(t, fn.URL+"/", "com.example.unknown", "u", `{}`, auth...)).Problem(t, http.StatusBadRequest)
		functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeStatusRequested, "u", `{"deliberation_id":`, auth...)).Problem(t, http.StatusBadRequest)
	})
}

// TestWakeUpRecordsCompletion: the job's finished wake-up (sent without a token) makes the
// function read the outcome from Ray and store it; the PingSource's event runs a reconcile pass.
func TestWakeUpRecordsCompletion(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	stack.Ray.SetDefaultOutcome(raytest.Succeeds(0, `RAY_EXECUTOR_RESULT v1 {"agent_results":[{"agent_id":"a1","proposal":"p","reasoning":"r","score":0.9}],"failures":[{"agent_id":"a2","error":"503"}],"total_agents":2,"completed_agents":1,"failed_agents":1,"scoring_error":""}`))
	ids := stack.Seed(t, 2)
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"API_TOKEN": token}))

	woken := functest.Do(t, functest.Binary(t, fn.URL+"/", deliberation.TypeFinished, "w1", `{"deliberation_id":"`+ids[0]+`"}`))
	if woken.Status != http.StatusOK || len(woken.Body) != 0 {
		t.Fatalf("wake-up: %d %s", woken.Status, woken.Body)
	}
	rep := functest.Call(t, http.MethodGet, fn.URL+"/"+ids[0], "", auth...).JSON(t)
	if rep["status"] != "completed" || rep["result"] == nil {
		t.Errorf("after the wake-up: %v", rep)
	}
	functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypePing, "tick-1", `{"message":"tick"}`)).Problem(t, http.StatusUnauthorized)
	ping := functest.Do(t, functest.Structured(t, fn.URL+"/", transport.TypePing, "tick-1", `{"message":"tick"}`, auth...))
	if ping.Status != http.StatusOK || len(ping.Body) != 0 {
		t.Fatalf("ping: %d %s", ping.Status, ping.Body)
	}
	stats, err := stack.UseCases(t).Stats.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s := stats.Stats; s.CompletedDeliberations != 2 || s.ActiveDeliberations != 0 || s.TotalDeliberations != 2 {
		t.Errorf("after the reconcile pass: %+v", s)
	}
}

func TestStatusRedisDown(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	id := stack.Seed(t, 1)[0]
	fn := functest.Start(t, functest.Build(t), stack.Env(nil))
	stack.Redis.Kill()
	got := functest.Call(t, http.MethodGet, fn.URL+"/"+id, "")
	got.Problem(t, http.StatusServiceUnavailable)
	if got.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	functest.Do(t, functest.Structured(t, fn.URL+"/", transport.TypeStatusRequested, "d", `{"deliberation_id":"`+id+`"}`)).
		Problem(t, http.StatusServiceUnavailable)
}
