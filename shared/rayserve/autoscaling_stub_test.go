package rayserve

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/rayjob"
)

// stubRunner is a deployment named as the runner's that reports fixed figures, as the runner's
// record_autoscaling_stats does: it lets the policy's whole path (the figures, Serve's controller,
// the bounds) be watched on a real head, whatever the runner's own load.
const stubRunner = `from ray import serve


class DeliberationRunner:
    def __init__(self, figures):
        self.figures = figures

    def record_autoscaling_stats(self):
        return self.figures


def app(args):
    figures = {name: float(value) for name, value in args["figures"].items()}
    return serve.deployment(ray_actor_options={"num_cpus": 0})(DeliberationRunner).bind(figures)
`

// stubPackage is a working_dir of the stub and the runner's policy module, under its
// content-addressed name.
func stubPackage(t *testing.T) (string, []byte) {
	t.Helper()
	files, err := rayjob.Files()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, body := range map[string]string{"stub_runner.py": stubRunner, "autoscaling.py": files["autoscaling.py"]} {
		f, err := w.Create(name)
		if err == nil {
			_, err = f.Write([]byte(body))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return "_ray_pkg_" + hex.EncodeToString(sum[:]) + ".zip", buf.Bytes()
}

// TestPolicyFollowsTheFiguresOnARealHead: replicas that report a queue beyond one replica's
// capacity are scaled up to the maximum by Serve with the runner's policy, and back down to the
// minimum once they report nothing to do.
func TestPolicyFollowsTheFiguresOnARealHead(t *testing.T) {
	addr := raytest.RealAddress(t)
	unlock, err := raytest.LockServe(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	client, err := NewClient(addr, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.DeleteAll(context.Background()) })
	name, zip := stubPackage(t)
	app := func(inFlight, lag int) RunnerApplication {
		return RunnerApplication{ImportPath: "stub_runner:app",
			Args: map[string]any{"redis_url": "redis://unused", "figures": map[string]int{
				"runner_in_flight": inFlight, "runner_queue_lag": lag, "runner_capacity": 50}},
			Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 3, DownscaleDelay: time.Second}}
	}
	// 50 held and 100 waiting: 150 at 40 a replica wants 4, within the bounds 3.
	if err := client.DeployRunner(t.Context(), app(50, 100), name, zip, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, client, 3, 2*time.Minute)
	// Nothing held, nothing waiting: back to the minimum.
	if err := client.PutRunner(t.Context(), app(0, 0), name, zip); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, client, 1, 2*time.Minute)
}

// waitReplicas waits until the runner's deployment aims at and runs want replicas.
func waitReplicas(t *testing.T, c *Client, want int, within time.Duration) {
	t.Helper()
	var last DeploymentStatus
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		apps, err := c.Applications(t.Context())
		if err != nil {
			continue
		}
		last = apps["deliberation-runner"].Deployments[RunnerDeployment]
		if last.TargetNumReplicas == want && last.Running() == want {
			return
		}
	}
	t.Fatalf("the runner did not reach %d replicas within %s: target %d, running %d (%s)", want, within, last.TargetNumReplicas, last.Running(), last.Status)
}
