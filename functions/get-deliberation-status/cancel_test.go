package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestCancel drives DELETE /{id} and the cancel CloudEvent through the built binary, with and
// without API_TOKEN, in both dispatches: queued work is stopped (jobs: the Ray job is STOPPED;
// serve: the queued attempt is marked STOPPED, so no runner ever starts it), a second cancel is
// 200, a finished deliberation 409, an unknown one 404, and the counters hold the cancels.
func TestCancel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, dispatch, token string
	}{{"jobs with token", "jobs", token}, {"serve without token", "serve", ""}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stack := functest.NewStack(t)
			extra := map[string]string{"RAY_DISPATCH": c.dispatch}
			ids := stack.SeedWith(t, 5, extra)
			if c.token != "" {
				extra["API_TOKEN"] = c.token
			}
			fn := functest.Start(t, functest.Build(t), stack.Env(extra))
			var hdr []string
			if c.token != "" {
				hdr = []string{"Authorization", "Bearer " + c.token}
				functest.Call(t, http.MethodDelete, fn.URL+"/"+ids[0], "").Problem(t, http.StatusUnauthorized)
				functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeCancelRequested, "x", `{"deliberation_id":"`+ids[0]+`"}`)).
					Problem(t, http.StatusUnauthorized)
			}

			got := functest.Call(t, http.MethodDelete, fn.URL+"/"+ids[0], `{"reason":"story dropped"}`, append(hdr, "Content-Type", "application/json")...)
			if rep := got.JSON(t); got.Status != http.StatusAccepted || rep["status"] != "cancelled" || rep["reason"] != "story dropped" {
				t.Fatalf("DELETE: %d %v", got.Status, rep)
			}
			again := functest.Call(t, http.MethodDelete, fn.URL+"/"+ids[0], "", hdr...)
			if rep := again.JSON(t); again.Status != http.StatusOK || rep["status"] != "cancelled" {
				t.Fatalf("second DELETE: %d %v", again.Status, rep)
			}
			if got := functest.Call(t, http.MethodDelete, fn.URL+"/"+unknown, "", hdr...); got.Status != http.StatusNotFound || got.JSON(t)["status"] != "not_found" {
				t.Fatalf("DELETE unknown: %d %s", got.Status, got.Body)
			}
			for i, mode := range []string{"binary", "structured"} {
				data := functest.Do(t, functest.Modes[mode](t, fn.URL+"/", transport.TypeCancelRequested, "c-"+mode,
					`{"deliberation_id":"`+ids[1+i]+`","reason":"re-planned"}`, hdr...)).Reply(t, transport.TypeStatus)
				if data["status"] != "cancelled" || data["reason"] != "re-planned" {
					t.Fatalf("%s cancel reply: %v", mode, data)
				}
				missing := functest.Do(t, functest.Modes[mode](t, fn.URL+"/", transport.TypeCancelRequested, "m-"+mode,
					`{"deliberation_id":"`+unknown+`"}`, hdr...)).Reply(t, transport.TypeStatus)
				if missing["status"] != "not_found" {
					t.Fatalf("%s unknown reply: %v", mode, missing)
				}
			}
			functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeCancelRequested, "bad", `{"deliberation_id":`, hdr...)).
				Problem(t, http.StatusBadRequest)

			// The Ray side of the three cancels is stopped.
			for _, id := range ids[:3] {
				switch c.dispatch {
				case "jobs":
					deadline := time.Now().Add(5 * time.Second)
					for {
						j, ok := stack.Ray.Job(id)
						if (ok && j.Status == deliberation.JobStopped) || (!ok && stack.Ray.Count(raytest.RouteStop) > 0) {
							break // stopped (and maybe deleted already)
						}
						if time.Now().After(deadline) {
							t.Fatalf("job %s: %+v, want STOPPED", id, j)
						}
						time.Sleep(50 * time.Millisecond)
					}
				case "serve":
					// STOPPED, or already deleted once stopped: either way no runner starts it.
					if st := stack.AttemptState(t, id); st != "STOPPED" && st != "" {
						t.Fatalf("attempt %s is %q, want STOPPED or gone (a runner skips both)", id, st)
					}
					if n := stack.Queued(t); n == 0 {
						t.Fatal("the queued entries vanished; expected them to wait for a runner that skips them")
					}
				}
			}

			// A failed deliberation cannot be cancelled: 409 naming its status, 200 status reply on the Broker path.
			finished := ids[3]
			if _, err := stack.UseCasesWith(t, extra).Cancel.Cancel(t.Context(), ids[4], ""); err != nil {
				t.Fatal(err)
			}
			// Someone else stops it: the status check records it failed.
			if c.dispatch == "jobs" {
				res, err := http.Post(stack.Ray.URL()+"/api/jobs/"+finished+"/stop", "application/json", nil)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
			} else {
				stack.SetAttemptState(t, finished, "STOPPED")
			}
			if rep := functest.Call(t, http.MethodGet, fn.URL+"/"+finished, "", hdr...).JSON(t); rep["status"] != "failed" {
				t.Fatalf("after an outside stop: %v", rep)
			}
			conflict := functest.Call(t, http.MethodDelete, fn.URL+"/"+finished, "", hdr...)
			conflict.Problem(t, http.StatusConflict)
			if conflict.JSON(t)["deliberation_status"] != "failed" {
				t.Fatalf("409 body: %s", conflict.Body)
			}
			if data := functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeCancelRequested, "f",
				`{"deliberation_id":"`+finished+`"}`, hdr...)).Reply(t, transport.TypeStatus); data["status"] != "failed" {
				t.Fatalf("cancel of a failed one, reply: %v", data)
			}

			rep, err := stack.UseCases(t).Stats.Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s := rep.Stats; s.TotalDeliberations != 5 || s.ActiveDeliberations != 0 || s.CancelledDeliberations != 4 || s.FailedDeliberations != 1 || s.Consistent() != nil {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}

// TestCancelCompleted: a completed deliberation stays completed whatever cancel asks. DELETE
// answers 409 naming its status; the cancel CloudEvent (binary and structured) answers the status
// reply, so the Broker does not retry, and the counters do not move.
func TestCancelCompleted(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	stack.Ray.SetDefaultOutcome(raytest.Succeeds(0, `RAY_EXECUTOR_RESULT v1 {"agent_results":[{"agent_id":"a1","proposal":"p","reasoning":"r","score":0.9},{"agent_id":"a2","proposal":"q","reasoning":"s","score":0.5}],"failures":[],"total_agents":2,"completed_agents":2,"failed_agents":0,"scoring_error":""}`))
	extra := map[string]string{"RAY_DISPATCH": "jobs", "API_TOKEN": token}
	ids := stack.SeedWith(t, 2, extra)
	fn := functest.Start(t, functest.Build(t), stack.Env(extra))
	hdr := []string{"Authorization", "Bearer " + token}
	for _, id := range ids {
		if rep := functest.Call(t, http.MethodGet, fn.URL+"/"+id, "", hdr...).JSON(t); rep["status"] != "completed" {
			t.Fatalf("%s before the cancel: %v", id, rep)
		}
	}

	conflict := functest.Call(t, http.MethodDelete, fn.URL+"/"+ids[0], `{"reason":"too late"}`, append(hdr, "Content-Type", "application/json")...)
	conflict.Problem(t, http.StatusConflict)
	if conflict.JSON(t)["deliberation_status"] != "completed" {
		t.Fatalf("409 body: %s", conflict.Body)
	}
	for _, mode := range []string{"binary", "structured"} {
		data := functest.Do(t, functest.Modes[mode](t, fn.URL+"/", transport.TypeCancelRequested, "late-"+mode,
			`{"deliberation_id":"`+ids[1]+`","reason":"too late"}`, hdr...)).Reply(t, transport.TypeStatus)
		if data["status"] != "completed" || data["result"] == nil {
			t.Fatalf("%s cancel of a completed one, reply: %v", mode, data)
		}
	}
	for _, id := range ids {
		if rep := functest.Call(t, http.MethodGet, fn.URL+"/"+id, "", hdr...).JSON(t); rep["status"] != "completed" || rep["result"] == nil {
			t.Fatalf("%s after the cancels: %v", id, rep)
		}
	}
	rep, err := stack.UseCases(t).Stats.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Stats; s.TotalDeliberations != 2 || s.CompletedDeliberations != 2 || s.CancelledDeliberations != 0 || s.Consistent() != nil {
		t.Fatalf("stats: %+v", s)
	}
}
