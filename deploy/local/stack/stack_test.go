package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/testenv"
)

const (
	token = "stack-test-token"
	// The launcher's own head: ports apart from the tests' head (6381/8266) and `make run`'s
	// (6380/8265), so the test runs beside both.
	headPort      = "6383"
	dashboardPort = "8268"
	// stopWithin bounds the launcher's stop: 10 s of grace for the functions, then rayhead.sh
	// stop (5 s after SIGTERM, 10 s after SIGKILL), with room to spare.
	stopWithin = 45 * time.Second
)

// TestStackRunsADeliberationAndLeavesNothingBehind is `make run` as a user meets it: the launcher
// builds the functions, embeds Redis and NATS, starts its own Ray head, and a deliberation runs
// end to end on that head against the fake model server. Ctrl-C must then stop everything: every
// function process, the whole head, with exit status 0.
func TestStackRunsADeliberationAndLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	requireRay(t, root)
	testenv.Require(t, "curl")
	testenv.Require(t, "setsid")
	bin := binDir(t, root)
	model := modelserver.New(t)
	tempDir := fmt.Sprintf("/tmp/rxstack-%d", os.Getpid())
	headEnv := map[string]string{"RAY_HEAD_PORT": headPort, "RAY_DASHBOARD_PORT": dashboardPort, "RAY_HEAD_TEMP_DIR": tempDir}
	t.Cleanup(func() {
		stopHead(t, root, headEnv)
		_ = os.RemoveAll(tempDir) // Ray's session logs: the directory is this run's alone
	})
	env := map[string]string{"API_TOKEN": token, "VLLM_URL_ALLOWLIST": model.URL(), "RECONCILE_INTERVAL": "2s"}
	for k, v := range headEnv {
		env[k] = v
	}
	start := time.Now()
	l := startLauncher(t, filepath.Join(bin, "stack"), root, env)
	l.waitUp(t, 150*time.Second)
	t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(l.out.String(), "building the functions") {
		t.Error("the launcher did not build the functions itself")
	}
	if !strings.Contains(l.out.String(), "http://127.0.0.1:"+dashboardPort) {
		t.Errorf("the table does not show the Ray dashboard on %s", dashboardPort)
	}

	children := descendants(t, l.proc.Pid())
	var names []string
	for _, c := range children {
		names = append(names, filepath.Base(strings.Fields(c.cmd)[0]))
	}
	slices.Sort(names)
	want := []string{"combined", "execute-deliberation", "get-active-jobs", "get-deliberation-status", "get-stats"}
	if !slices.Equal(names, want) {
		t.Fatalf("the launcher runs %v, want one process per program %v", names, want)
	}
	head := naming(t, tempDir)
	if len(head) == 0 {
		t.Fatalf("no process of a Ray head names %s", tempDir)
	}

	submitted := time.Now()
	id := deliberate(t, l, model)
	t.Logf("deliberation completed in %s", time.Since(submitted).Round(time.Millisecond))
	assertPassedThrough(t, l, model)
	stats := get(t, l.url("combined")+"/stats", token)
	if total, _ := stats["stats"].(map[string]any)["total_deliberations"].(float64); total < 1 {
		t.Errorf("the combined router counts %v deliberations, want at least 1: %v", total, stats)
	}
	if got := get(t, l.url("combined")+"/deliberations/"+id, token)["status"]; got != "completed" {
		t.Errorf("the combined router says %s is %v, want completed", id, got)
	}
	assertTicked(t, l)
	cancelWhileRunning(t, l, model)

	code, took := l.interrupt(stopWithin)
	t.Logf("stopped in %s", took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("the launcher exited %d after SIGINT, want 0", code)
	}
	for _, p := range append(children, head...) {
		if p.alive() {
			t.Errorf("process %d survived the launcher: %s", p.pid, p.cmd)
		}
	}
	if left := naming(t, tempDir); len(left) > 0 {
		t.Errorf("processes of the Ray head are left: %v", left)
	}
}

// TestStackOnGivenServers runs the launcher against servers it is given (REDIS_URL, NATS_URL, the
// tests' Ray head in RAY_TEST_ADDRESS) and prebuilt binaries: it must use them, and leave every
// one of them running when it stops.
func TestStackOnGivenServers(t *testing.T) {
	t.Parallel()
	ray := os.Getenv("RAY_TEST_ADDRESS")
	if ray == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RAY_TEST_ADDRESS is not set: CI needs a real Ray head (deploy/local/with-ray-head.sh)")
		}
		t.Skip("RAY_TEST_ADDRESS is not set: no real Ray head to run on")
	}
	root := repoRoot(t)
	redis := testenv.StartRedis(t)
	nats := testenv.StartNATS(t)
	bin := binDir(t, root)
	model := modelserver.New(t)
	l := startLauncher(t, filepath.Join(bin, "stack"), root, map[string]string{
		"REDIS_URL": redis.URL(), "NATS_URL": nats.URL(), "RAY_ADDRESS": ray, "API_TOKEN": token,
		// The tests' head is shared: the runner (serve) belongs to shared/runnerqueue's tests there.
		"RAY_DISPATCH": "jobs", "VLLM_URL_ALLOWLIST": model.URL(),
	}, "-bin-dir", bin)
	start := time.Now()
	l.waitUp(t, 60*time.Second)
	t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))
	for _, given := range []string{redis.URL(), nats.URL(), ray} {
		if !strings.Contains(l.out.String(), given) {
			t.Errorf("the table does not show the given %s", given)
		}
	}
	if strings.Contains(l.out.String(), "building the functions") {
		t.Error("the launcher built the functions although -bin-dir has them")
	}
	children := descendants(t, l.proc.Pid())
	start = time.Now()
	deliberate(t, l, model)
	t.Logf("deliberation completed in %s", time.Since(start).Round(time.Millisecond))
	id := cancelWhileRunning(t, l, model)
	wantJobNotRunning(t, ray, id)

	code, took := l.interrupt(stopWithin)
	t.Logf("stopped in %s", took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("the launcher exited %d after SIGINT, want 0", code)
	}
	for _, p := range children {
		if p.alive() {
			t.Errorf("process %d survived the launcher: %s", p.pid, p.cmd)
		}
	}
	if res, err := http.Get(ray + "/api/version"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the given Ray head no longer answers: %v", err)
	} else {
		res.Body.Close()
	}
	opt, err := goredis.ParseURL(redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Errorf("the given redis-server no longer answers: %v", err)
	}
	nc, err := natsgo.Connect(nats.URL(), natsgo.Timeout(2*time.Second))
	if err != nil {
		t.Errorf("the given nats-server no longer answers: %v", err)
	} else {
		nc.Close()
	}
}

// TestStackStopsWhenAFunctionDies kills one function: the launcher must say which, stop the rest
// and exit non-zero, so a broken stack never looks like a running one. Ray is never called here,
// so an address where nothing listens does.
func TestStackStopsWhenAFunctionDies(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	bin := binDir(t, root)
	// The jobs dispatch asks nothing of Ray at start: the serve one would deploy the runner there.
	l := startLauncher(t, filepath.Join(bin, "stack"), root, map[string]string{"RAY_ADDRESS": "http://127.0.0.1:9", "RAY_DISPATCH": "jobs"}, "-bin-dir", bin)
	l.waitUp(t, 30*time.Second)
	// Without VLLM_URL_ALLOWLIST, make run admits the model server of the table's example, on this
	// machine, and no other (Ray is unreachable: an admitted request waits for it, 202).
	if res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleBody, ""); res != http.StatusAccepted {
		t.Errorf("execute of the example's model server answered %d, want 202: %v", res, body)
	}
	if res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleFor("http://10.0.0.1:8000"), ""); res != http.StatusBadRequest {
		t.Errorf("execute of a model server elsewhere answered %d, want 400: %v", res, body)
	}
	children := descendants(t, l.proc.Pid())
	victim := slices.IndexFunc(children, func(p proc) bool { return strings.HasSuffix(p.cmd, "/get-stats") })
	if len(children) != len(programs) || victim < 0 {
		t.Fatalf("want the %d programs below the launcher, found %v", len(programs), children)
	}
	if err := syscall.Kill(children[victim].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.proc.Done():
	case <-time.After(stopWithin):
		t.Fatal("the launcher kept running after a function died")
	}
	if code := l.exitCode(); code != exitFailed {
		t.Errorf("the launcher exited %d, want %d", code, exitFailed)
	}
	if !strings.Contains(l.out.String(), "a function exited unexpectedly: stats") {
		t.Error("the launcher did not say which function exited")
	}
	for _, p := range children {
		if p.alive() {
			t.Errorf("process %d survived the launcher: %s", p.pid, p.cmd)
		}
	}
}

// deliberate submits the README's example, pointed at the fake model server, to the execute
// function and polls the status function until it completes on Ray; it returns the id.
func deliberate(t *testing.T, l *stackProcess, model *modelserver.Server) string {
	t.Helper()
	model.SetBehavior("m1", modelserver.Behavior{Answer: "an LRU cache from the stack test"})
	res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleFor(model.URL()), token)
	if res != http.StatusAccepted {
		t.Fatalf("execute answered %d: %v", res, body)
	}
	id, _ := body["deliberation_id"].(string)
	deadline := time.Now().Add(90 * time.Second)
	for {
		status := get(t, l.url("status")+"/"+id, token)
		switch status["status"] {
		case "completed":
			raw, _ := json.Marshal(status["result"])
			if !strings.Contains(string(raw), "an LRU cache from the stack test") {
				t.Errorf("the result lacks the fake model's proposal: %s", raw)
			}
			return id
		case "failed":
			t.Fatalf("the deliberation failed: %v", status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliberation is still %v after 90s: %v", status["status"], status)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// cancelWhileRunning cancels, through the combined function, a deliberation the runner is
// running on the stack's head: the cancel answers 202 cancelled, and once the calls in flight
// end, no agent call reaches the model server any more (its retries would go on for seconds).
func cancelWhileRunning(t *testing.T, l *stackProcess, model *modelserver.Server) string {
	t.Helper()
	model.SetBehavior("m-cancel", modelserver.Behavior{FailStatus: 503, Delay: time.Second})
	body := strings.ReplaceAll(exampleFor(model.URL()), `"model":"m1"`, `"model":"m-cancel"`)
	body = strings.ReplaceAll(body, `"model":"m2"`, `"model":"m-cancel"`)
	res, sub := call(t, http.MethodPost, l.url("combined")+"/deliberations", body, token)
	if res != http.StatusAccepted {
		t.Fatalf("execute answered %d: %v", res, sub)
	}
	id, _ := sub["deliberation_id"].(string)
	for deadline := time.Now().Add(30 * time.Second); len(model.RequestsFor("m-cancel")) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no agent of %s called the model server within 30 s", id)
		}
	}
	if res, got := call(t, http.MethodDelete, l.url("combined")+"/deliberations/"+id, "", token); res != http.StatusAccepted || got["status"] != "cancelled" {
		t.Fatalf("cancel answered %d: %v, want 202 cancelled", res, got)
	}
	time.Sleep(2 * time.Second) // the calls in flight when the cancel came end within a second
	settled := len(model.RequestsFor("m-cancel"))
	time.Sleep(3 * time.Second)
	if n := len(model.RequestsFor("m-cancel")); n != settled {
		t.Errorf("%d agent calls reached the model server after the cancel settled", n-settled)
	}
	if got := get(t, l.url("status")+"/"+id, token)["status"]; got != "cancelled" {
		t.Errorf("%s is %v after the cancel, want cancelled", id, got)
	}
	return id
}

// wantJobNotRunning checks, in the jobs dispatch, that the Ray job of a cancelled deliberation
// (its first attempt's submission id is the deliberation id) no longer runs on the head at ray.
func wantJobNotRunning(t *testing.T, ray, id string) {
	t.Helper()
	res, err := http.Get(ray + "/api/jobs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var job struct {
		Status string `json:"status"`
	}
	if res.StatusCode == http.StatusNotFound {
		return // stopped and already deleted
	}
	if err := json.NewDecoder(res.Body).Decode(&job); err != nil || job.Status == "RUNNING" || job.Status == "PENDING" {
		t.Errorf("the Ray job of cancelled %s is %q (%v), want it stopped", id, job.Status, err)
	}
}

// assertPassedThrough checks that the user's settings reach the functions: API_TOKEN is
// required, and VLLM_URL_ALLOWLIST refuses a model server it does not list.
func assertPassedThrough(t *testing.T, l *stackProcess, model *modelserver.Server) {
	t.Helper()
	if res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleFor(model.URL()), ""); res != http.StatusUnauthorized {
		t.Errorf("execute without the token answered %d, want 401: %v", res, body)
	}
	if res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleFor("http://127.0.0.1:9"), token); res != http.StatusBadRequest {
		t.Errorf("execute of a model server off the allowlist answered %d, want 400: %v", res, body)
	}
}

// assertTicked checks that the reconcile tick reached the status function, token and all: it
// logs a reconcile pass only for an accepted ping.
func assertTicked(t *testing.T, l *stackProcess) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(lines(l.out, "status"), func(s string) bool { return strings.Contains(s, `"msg":"reconcile pass"`) }) {
		if time.Now().After(deadline) {
			t.Error("the status function logged no reconcile pass: the tick did not reach it")
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// exampleFor is the table's example body with vllm_url set and a model per agent.
func exampleFor(vllmURL string) string {
	body := strings.Replace(exampleBody, `"http://127.0.0.1:8000"`, fmt.Sprintf("%q", vllmURL), 1)
	body = strings.Replace(body, `"model":"my-model"`, `"model":"m1"`, 1)
	return strings.Replace(body, `"model":"my-model"`, `"model":"m2"`, 1)
}

func call(t *testing.T, method, url, body, bearer string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s answered %d, not a JSON object: %s", method, url, res.StatusCode, raw)
	}
	return res.StatusCode, m
}

func get(t *testing.T, url, bearer string) map[string]any {
	t.Helper()
	code, m := call(t, http.MethodGet, url, "", bearer)
	if code != http.StatusOK {
		t.Fatalf("GET %s answered %d: %v", url, code, m)
	}
	return m
}

// stopHead stops the test's head in case the launcher could not; a no-op when it did.
func stopHead(t *testing.T, root string, env map[string]string) {
	cmd := exec.Command(filepath.Join(root, "deploy", "local", "rayhead.sh"), "stop")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("rayhead.sh stop: %v\n%s", err, out)
	}
}
