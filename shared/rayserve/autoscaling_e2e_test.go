package rayserve

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/rayjob"
)

// TestAutoscaledRunnerRunsOnARealHead, on the real Ray head of deploy/local/with-ray-head.sh: the
// runner's package with its autoscaling policy deploys through the REST API (Serve imports
// autoscaling:queue_app_policy in the application's working_dir), Serve reports the deployment
// RUNNING with its replicas within the bounds, and the config it shows back is what Decide
// finds current, so the functions do not deploy it again on every start.
func TestAutoscaledRunnerRunsOnARealHead(t *testing.T) {
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
	redis := testenv.StartRedis(t)
	name, zip, err := rayjob.Package()
	if err != nil {
		t.Fatal(err)
	}
	app := RunnerApplication{ImportPath: rayjob.RunnerImportPath, WorkingDir: "gcs://" + name,
		Args:        map[string]any{"redis_url": redis.URL(), "key_prefix": raytest.UniqueID("autoscale")},
		Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 3, UpscaleDelay: time.Second, DownscaleDelay: 30 * time.Second}}
	if err := client.DeployRunner(t.Context(), app, name, zip, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	apps, err := client.Applications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st := apps[app.name()]
	d, ok := st.Deployments[RunnerDeployment]
	if !ok || d.Status != "HEALTHY" || d.TargetNumReplicas < 1 || d.TargetNumReplicas > 3 || d.Running() < 1 || d.Running() > 3 {
		t.Fatalf("deployment %s: %+v", RunnerDeployment, d)
	}
	var shown struct {
		AutoscalingPolicy struct {
			PolicyFunction string `json:"policy_function"`
		} `json:"autoscaling_policy"`
		Deployments []struct {
			AutoscalingConfig struct {
				MaxReplicas int `json:"max_replicas"`
			} `json:"autoscaling_config"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal(st.Config, &shown); err != nil || len(shown.Deployments) != 1 ||
		shown.AutoscalingPolicy.PolicyFunction != PolicyFunction || shown.Deployments[0].AutoscalingConfig.MaxReplicas != 3 {
		t.Fatalf("deployed config %s (%v): want the runner's policy and bounds", st.Config, err)
	}
	if dec := Decide(apps, app); dec.Deploy {
		t.Errorf("Decide over the runner just deployed: %+v; Serve shows its config back as %s", dec, st.Config)
	}
}
