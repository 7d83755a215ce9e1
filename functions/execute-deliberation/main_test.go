package main

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

func TestMain(m *testing.M) { os.Exit(functest.Main(m)) }

const token = "test-token-1"

var auth = []string{"Authorization", "Bearer " + token}

func TestExecute(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"API_TOKEN": token}))

	t.Run("plain JSON", func(t *testing.T) {
		got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest, auth...)
		sub := got.JSON(t)
		id, _ := sub["deliberation_id"].(string)
		if got.Status != http.StatusAccepted || !deliberation.ValidID(id) || sub["status"] != "submitted" ||
			sub["message"] != "Deliberation submitted to Ray cluster" {
			t.Fatalf("execute: %d %v", got.Status, sub)
		}
		if job, ok := stack.Ray.Job(id); !ok || job.SubmissionID != id {
			t.Errorf("Ray has no job %s", id)
		}
	})
	for mode, build := range functest.Modes {
		t.Run(mode+" CloudEvent", func(t *testing.T) {
			data := functest.Do(t, build(t, fn.URL+"/", transport.TypeExecuteRequested, "evt-"+mode, functest.ValidRequest, auth...)).
				Reply(t, deliberation.TypeSubmitted)
			if !deliberation.ValidID(data["deliberation_id"].(string)) || data["status"] != "submitted" {
				t.Errorf("reply %v", data)
			}
		})
	}
	t.Run("every field problem", func(t *testing.T) {
		body := `{"task_id":"","task_description":"x","role":"DEV","constraints":{"story_id":"s","max_retries":11},
		 "agents":[],"vllm_url":"http://169.254.169.254:80","vllm_model":""}`
		fields := functest.Call(t, http.MethodPost, fn.URL+"/", body, auth...).Problem(t, http.StatusBadRequest)
		want := []string{"task_id", "constraints.max_retries", "agents", "vllm_model"}
		for _, f := range want {
			if !slices.Contains(fields, f) {
				t.Errorf("fields %v lack %s", fields, f)
			}
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		body := strings.Replace(functest.ValidRequest, `"role":"DEV",`, `"role":"DEV","priority":1,`, 1)
		if fields := functest.Call(t, http.MethodPost, fn.URL+"/", body, auth...).Problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"priority"}) {
			t.Errorf("fields %v", fields)
		}
	})
	t.Run("401", func(t *testing.T) {
		got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest)
		got.Problem(t, http.StatusUnauthorized)
		if got.Header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate")
		}
		functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest, "Authorization", "Bearer wrong").Problem(t, http.StatusUnauthorized)
	})
	t.Run("405", func(t *testing.T) {
		got := functest.Call(t, http.MethodGet, fn.URL+"/", "", auth...)
		got.Problem(t, http.StatusMethodNotAllowed)
		if got.Header.Get("Allow") != "POST" {
			t.Errorf("Allow %q", got.Header.Get("Allow"))
		}
	})
	t.Run("413", func(t *testing.T) {
		huge := strings.Replace(functest.ValidRequest, "Implement the cache", strings.Repeat("x", 300<<10), 1)
		functest.Call(t, http.MethodPost, fn.URL+"/", huge, auth...).Problem(t, http.StatusRequestEntityTooLarge)
	})
	t.Run("415", func(t *testing.T) {
		functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest, append(auth, "Content-Type", "text/plain")...).
			Problem(t, http.StatusUnsupportedMediaType)
	})
	t.Run("metrics", func(t *testing.T) {
		got := functest.Call(t, http.MethodGet, fn.URL+"/metrics", "", auth...)
		if !strings.Contains(string(got.Body), `rayexec_http_requests_total{code="202",route="execute",transport="http"}`) {
			t.Errorf("metrics lack the execute counter:\n%s", got.Body)
		}
	})
}

// TestIdempotencyKey: 10 concurrent requests with one key make one deliberation: one 202 and nine
// 200 with the same id; the key with another body is 422.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(nil))
	statuses := make([]int, 10)
	ids := make([]string, 10)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest, "Idempotency-Key", "order-42")
			statuses[i] = got.Status
			ids[i], _ = got.JSON(t)["deliberation_id"].(string)
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	want := append([]int{200, 200, 200, 200, 200, 200, 200, 200, 200}, 202)
	if !slices.Equal(statuses, want) || slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
		t.Fatalf("statuses %v ids %v, want one 202, nine 200, one id", statuses, ids)
	}
	other := strings.Replace(functest.ValidRequest, "Implement the cache", "Another task", 1)
	functest.Call(t, http.MethodPost, fn.URL+"/", other, "Idempotency-Key", "order-42").Problem(t, http.StatusUnprocessableEntity)
	if n := len(stack.Ray.Jobs()); n != 1 {
		t.Errorf("%d Ray jobs, want 1", n)
	}
	if n := stack.Total(t); n != 1 {
		t.Errorf("%d deliberations counted, want 1", n)
	}
}

// TestDuplicateDeliveries: 20 concurrent deliveries of one CloudEvent make one deliberation and
// one Ray job, and all 20 replies name it.
// TestDuplicateDeliveries: twenty deliveries of one CloudEvent at once make one deliberation and
// dispatch it once, as one Ray job (jobs) or one entry in the runners' queue (serve).
func TestDuplicateDeliveries(t *testing.T) {
	t.Parallel()
	for _, dispatch := range []string{"jobs", "serve"} {
		t.Run(dispatch, func(t *testing.T) {
			t.Parallel()
			stack := functest.NewStack(t)
			fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"RAY_DISPATCH": dispatch}))
			ids := make([]string, 20)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Go(func() {
					build := functest.Modes[[]string{"binary", "structured"}[i%2]]
					got := functest.Do(t, build(t, fn.URL+"/", transport.TypeExecuteRequested, "delivery-7", functest.ValidRequest))
					if got.Status == http.StatusOK && got.Header.Get("Ce-Type") == deliberation.TypeSubmitted {
						ids[i], _ = got.JSON(t)["deliberation_id"].(string)
					}
				})
			}
			wg.Wait()
			if ids[0] == "" || slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
				t.Fatalf("replies name %v, want one id 20 times", ids)
			}
			jobs, queued := len(stack.Ray.Jobs()), stack.Queued(t)
			if want := map[string][2]int{"jobs": {1, 0}, "serve": {0, 1}}[dispatch]; jobs != want[0] || queued != want[1] {
				t.Errorf("%d Ray jobs and %d queued attempts, want %v", jobs, queued, want)
			}
			if n := stack.Total(t); n != 1 {
				t.Errorf("%d deliberations counted, want 1", n)
			}
		})
	}
}

func TestTooManyActive(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"MAX_ACTIVE_DELIBERATIONS": "2"}))
	for range 2 {
		if got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest); got.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", got.Status, got.Body)
		}
	}
	got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest)
	got.Problem(t, http.StatusTooManyRequests)
	if got.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// TestRunnerQueueLagBound: in the serve dispatch, with MAX_RUNNER_QUEUE_LAG attempts waiting in
// the runners' queue (no runner reads it here), execute answers 429 with Retry-After, as JSON and
// to a CloudEvent, and enqueues and counts nothing more.
func TestRunnerQueueLagBound(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"RAY_DISPATCH": "serve", "MAX_RUNNER_QUEUE_LAG": "2"}))
	for range 2 {
		if got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest); got.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", got.Status, got.Body)
		}
	}
	time.Sleep(300 * time.Millisecond) // the instance's lag reading, taken before the queue filled, expires
	got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest)
	got.Problem(t, http.StatusTooManyRequests)
	if got.Header.Get("Retry-After") != "10" || !strings.Contains(string(got.Body), "runners' queue") {
		t.Errorf("429: Retry-After %q, body %s", got.Header.Get("Retry-After"), got.Body)
	}
	functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeExecuteRequested, "e-lag", functest.ValidRequest)).
		Problem(t, http.StatusTooManyRequests)
	if queued, total := stack.Queued(t), stack.Total(t); queued != 2 || total != 2 {
		t.Errorf("%d queued and %d counted after the refusals, want 2 and 2", queued, total)
	}
}

// TestRedisDown: with Redis gone, execute answers 503 at once (nothing is recorded) and recovers
// when Redis is back; readiness never depends on Redis.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(nil))
	if got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest); got.Status != http.StatusAccepted {
		t.Fatalf("before: %d", got.Status)
	}
	stack.Redis.Kill()
	start := time.Now()
	got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest)
	got.Problem(t, http.StatusServiceUnavailable)
	if got.Header.Get("Retry-After") == "" || time.Since(start) > 5*time.Second {
		t.Errorf("503 took %s, Retry-After %q", time.Since(start), got.Header.Get("Retry-After"))
	}
	functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeExecuteRequested, "e-down", functest.ValidRequest)).
		Problem(t, http.StatusServiceUnavailable)
	if ready := functest.Call(t, http.MethodGet, fn.URL+"/health/readiness", ""); ready.Status != http.StatusOK {
		t.Errorf("readiness with Redis down: %d", ready.Status)
	}
	stack.Redis.Restart(t)
	if got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest); got.Status != http.StatusAccepted {
		t.Errorf("after Redis is back: %d %s", got.Status, got.Body)
	}
}

// TestBadConfiguration: an operator sees every problem at once and the process exits at once.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	exit := functest.Run(t, functest.Build(t), map[string]string{"REDIS_URL": "bogus", "MAX_AGENTS": "-1", "RAY_ADDRESS": "http://127.0.0.1:1"}, 5*time.Second)
	if exit.Err == nil || exit.Took > time.Second {
		t.Fatalf("exit %v after %s, want non-zero within 1 s\n%s", exit.Err, exit.Took, exit.Log)
	}
	for _, want := range []string{"REDIS_URL: must be a redis:// or rediss:// URL", `MAX_AGENTS: must be a positive integer, got \"-1\"`} {
		if !strings.Contains(exit.Log, want) {
			t.Errorf("log lacks %s:\n%s", want, exit.Log)
		}
	}
}
