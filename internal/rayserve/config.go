// Package rayserve writes the deliberation runner's Ray Serve config and deploys it through Ray's
// Serve REST API. The product never deploys the runner: its users are the tests, `make run`, the
// bench, the fault suite and the RayService manifest's test, so it lives with test support.
package rayserve

import (
	"encoding/json"
	"errors"
)

// RunnerApplication is the deliberation runner as a Ray Serve application: what `serve deploy`,
// Ray's Serve REST API or a KubeRay RayService's serveConfigV2 declare.
type RunnerApplication struct {
	// Name of the application (default "deliberation-runner").
	Name string
	// ImportPath is the runner's application builder (rayjob.RunnerImportPath).
	ImportPath string
	// WorkingDir is where the cluster finds the runner's code: gcs://<package> after an upload,
	// or a URI the cluster can fetch. Empty when the image bakes the code in.
	WorkingDir string
	// Args are the runner's settings (redis_url, key_prefix, max_deliberations, ...).
	Args map[string]any
	// Replicas is how many runner replicas Serve keeps (default 1).
	Replicas int
}

func (a RunnerApplication) name() string {
	if a.Name == "" {
		return "deliberation-runner"
	}
	return a.Name
}

// serveConfig is the part of Serve's declarative config the runner needs. Serve's HTTP proxy is
// off: the runner takes its work from the queue, not from requests.
type serveConfig struct {
	ProxyLocation string           `json:"proxy_location"`
	Applications  []serveAppConfig `json:"applications"`
}

type serveAppConfig struct {
	Name        string                `json:"name"`
	RoutePrefix *string               `json:"route_prefix"`
	ImportPath  string                `json:"import_path"`
	RuntimeEnv  map[string]any        `json:"runtime_env,omitempty"`
	Args        map[string]any        `json:"args,omitempty"`
	Deployments []serveDeploymentConf `json:"deployments"`
}

type serveDeploymentConf struct {
	Name            string         `json:"name"`
	NumReplicas     int            `json:"num_replicas"`
	RayActorOptions map[string]any `json:"ray_actor_options"`
}

// RunnerDeployment is the runner's Serve deployment name (the class in deliberation_runner.py).
const RunnerDeployment = "DeliberationRunner"

// Config returns the declarative Serve config of the application, as Ray's Serve REST API takes
// it (PUT /api/serve/applications/); a RayService's serveConfigV2 holds the same document.
func (a RunnerApplication) Config() ([]byte, error) {
	if a.ImportPath == "" || a.Args["redis_url"] == nil {
		return nil, errors.New("the runner application needs its import path and a redis_url")
	}
	app := serveAppConfig{Name: a.name(), ImportPath: a.ImportPath, Args: a.Args,
		Deployments: []serveDeploymentConf{{Name: RunnerDeployment, NumReplicas: max(a.Replicas, 1),
			// The runner's work is HTTP to the model server: it reserves no CPU of its own.
			RayActorOptions: map[string]any{"num_cpus": 0}}}}
	if a.WorkingDir != "" {
		app.RuntimeEnv = map[string]any{"working_dir": a.WorkingDir}
	}
	return json.Marshal(serveConfig{ProxyLocation: "Disabled", Applications: []serveAppConfig{app}})
}
