package ray

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
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

// DeployServe puts a declarative Serve config on the cluster. Serve converges to it: it replaces
// every application the cluster runs with those of config.
func (c *Client) DeployServe(ctx context.Context, config []byte) error {
	_, err := c.do(ctx, request{op: "serve deploy", method: http.MethodPut, path: "/api/serve/applications/",
		body: config, contentType: "application/json", idempotent: true, maxBody: maxJobBody})
	return err
}

// ServeStatus is what Serve says of one application: RUNNING once its replicas are up.
type ServeStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// ServeApplications returns the status of every Serve application on the cluster.
func (c *Client) ServeApplications(ctx context.Context) (map[string]ServeStatus, error) {
	var out struct {
		Applications map[string]ServeStatus `json:"applications"`
	}
	err := c.getJSON(ctx, request{op: "serve status", method: http.MethodGet, path: "/api/serve/applications/",
		idempotent: true, maxBody: maxJobBody}, &out)
	return out.Applications, err
}

// DeployRunner uploads the runner's package (name, zip) when the cluster lacks it, deploys the
// application on it, and waits until Serve reports it RUNNING.
func (c *Client) DeployRunner(ctx context.Context, a RunnerApplication, pkgName string, pkgZip []byte, within time.Duration) error {
	if pkgName != "" {
		exists, err := c.PackageExists(ctx, pkgName)
		if err == nil && !exists {
			err = c.UploadPackage(ctx, pkgName, pkgZip)
		}
		if err != nil {
			return fmt.Errorf("runner package: %w", err)
		}
		a.WorkingDir = "gcs://" + pkgName
	}
	config, err := a.Config()
	if err != nil {
		return err
	}
	if err := c.DeployServe(ctx, config); err != nil {
		return err
	}
	name := a.name()
	deadline := time.Now().Add(within)
	for {
		apps, err := c.ServeApplications(ctx)
		st := apps[name]
		switch {
		case err == nil && st.Status == "RUNNING":
			return nil
		case err == nil && st.Status == "DEPLOY_FAILED":
			return fmt.Errorf("serve could not deploy %s: %s", name, st.Message)
		case time.Now().After(deadline):
			return fmt.Errorf("serve did not run %s within %s (status %q %s, error %v)", name, within, st.Status, st.Message, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// DeleteServe shuts down every Serve application on the cluster.
func (c *Client) DeleteServe(ctx context.Context) error {
	_, err := c.do(ctx, request{op: "serve delete", method: http.MethodDelete, path: "/api/serve/applications/",
		idempotent: true, maxBody: maxJobBody})
	return err
}
