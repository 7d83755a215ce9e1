//go:build faults

package faults

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/rayjobs"
)

// The suite's own Ray heads: ports and temp dirs no other head of the project uses (make run's is
// 6380/8265, the tests' 6381/8266), so stopping them never touches another engineer's head. The
// second is FAULTS_CLUSTERS=2's.
var suiteHeads = []headPorts{
	{name: "ray-1", port: "6384", dashboard: "8269", tempDir: "/tmp/rxfault"},
	{name: "ray-2", port: "6385", dashboard: "8270", tempDir: "/tmp/rxfault2"},
}

// headPorts place one head: rayhead.sh derives its other ports from the GCS port.
type headPorts struct {
	name, port, dashboard, tempDir string
}

// rayHead drives deploy/local/rayhead.sh for one of the suite's heads.
type rayHead struct {
	// name is the cluster's name in RAY_CLUSTERS (FAULTS_CLUSTERS=2).
	name    string
	script  string
	env     []string
	Address string
	// killedAt is when Kill lost it last.
	killedAt time.Time
}

// startRayHead starts the suite's i-th head, first stopping one an interrupted run may have left,
// and stops it when the test ends. Without the project's Ray the test is skipped, or fails under CI.
func startRayHead(t *testing.T, root string, i int) *rayHead {
	t.Helper()
	at := suiteHeads[i]
	venvBin := filepath.Join(root, ".venv", "bin")
	if _, err := os.Stat(filepath.Join(venvBin, "ray")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Ray is required under CI=true but %s/ray is missing (make venv): %v", venvBin, err)
		}
		t.Skipf("Ray not installed in %s (make venv); skipping (CI=true makes this a failure)", venvBin)
	}
	h := &rayHead{name: at.name, script: filepath.Join(root, "deploy", "local", "rayhead.sh")}
	// The head's jobs run the `python` on its PATH: it must be the venv's, which has Ray.
	h.env = append(os.Environ(), "PATH="+venvBin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"RAY_HEAD_PORT="+at.port, "RAY_DASHBOARD_PORT="+at.dashboard, "RAY_HEAD_TEMP_DIR="+at.tempDir, "RAY_PORT_BASE=")
	h.Stop(t)
	h.Start(t)
	t.Cleanup(func() { h.Stop(t) })
	return h
}

// Start starts the head and waits until its Jobs API answers.
func (h *rayHead) Start(t *testing.T) {
	t.Helper()
	start := time.Now()
	h.Address = strings.TrimSpace(h.run(t, "start"))
	t.Logf("ray head at %s started in %s", h.Address, time.Since(start).Round(time.Millisecond))
}

// Stop ends every process of the head: its jobs are gone with it, as when a cluster is lost.
func (h *rayHead) Stop(t *testing.T) {
	t.Helper()
	h.run(t, "stop")
}

// Kill SIGKILLs every process of the head at once: a whole cluster lost, with no goodbye to Redis.
func (h *rayHead) Kill(t *testing.T) {
	t.Helper()
	t.Logf("%s", strings.TrimSpace(h.run(t, "kill")))
}

// waitBusy waits until the head holds a live job of the suite with time to spare (a deadline of
// more than a minute: one of the short "deadline" shape would time out rather than be resubmitted,
// and then the restart would test nothing), or until within passes.
func (h *rayHead) waitBusy(t *testing.T, within time.Duration) {
	t.Helper()
	rc, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: h.Address})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		jobs, _ := rc.List(t.Context())
		for _, j := range jobs {
			if j.Metadata["owner"] == keyPrefix && !j.Status.Terminal() && jobTimeout(j) > time.Minute {
				return
			}
		}
	}
	t.Logf("the Ray head held no live job with time to spare within %s", within)
}

// jobTimeout reads a job's deliberation timeout from the request it carries in its env_vars.
func jobTimeout(j rayjobs.JobDetails) time.Duration {
	var env struct {
		EnvVars map[string]string `json:"env_vars"`
	}
	var req struct {
		Constraints struct {
			TimeoutSeconds int `json:"timeout_seconds"`
		} `json:"constraints"`
	}
	if json.Unmarshal(j.RuntimeEnv, &env) != nil || json.Unmarshal([]byte(env.EnvVars["RAY_EXECUTOR_REQUEST"]), &req) != nil {
		return 0
	}
	return time.Duration(req.Constraints.TimeoutSeconds) * time.Second
}

func (h *rayHead) run(t *testing.T, verb string) string {
	t.Helper()
	cmd := exec.Command(h.script, verb)
	cmd.Env = h.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rayhead.sh %s: %v\n%s%s", verb, err, out, stderr.String())
	}
	return string(out)
}
