package rayserve

import (
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"
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
	// Cluster names the Ray cluster the runner runs on (its arg cluster): it writes it into what
	// it runs and follows that cluster's draining state. Empty leaves the runner's default.
	Cluster string
	// Pools are the pools whose streams the runner reads (its arg pools). Empty leaves the
	// runner's default, the default pool.
	Pools []string
	// Replicas is how many runner replicas Serve keeps (default 1) when Autoscaling is nil.
	Replicas int
	// Autoscaling, when set, has Serve scale the replicas with the queue instead.
	Autoscaling *Autoscaling
	// Pip lists the packages the replicas install over the image's (the runner's Redis client on
	// an image without it); empty on a head whose Python already has them. When every entry
	// carries its --hash=sha256:... (rayjob.RunnerRequirements), pip installs them with
	// --require-hashes: a file whose digest is not listed is refused.
	Pip []string
	// Env are variables the replicas get beside the revision: the OpenTelemetry SDK's endpoint,
	// so the runner's spans go where the functions' go.
	Env map[string]string
	// Revision orders runner packages (rayjob.RunnerRevision): a function deploys over a runner
	// of a lower revision, never over a higher one (ensure.go). Zero writes none.
	Revision int
	// Digest is the digest of the package's files (rayjob.PackageDigest), which each replica
	// checks its own against at start (DigestVariable); empty checks nothing.
	Digest string
}

// DigestVariable is the runtime_env variable that carries the package's digest.
const DigestVariable = "RAYEXEC_RUNNER_DIGEST"

// RevisionVariable is the runtime_env variable that carries the runner's revision in its config:
// Serve keeps the config as deployed, so the next function to look reads it back.
const RevisionVariable = "RAYEXEC_RUNNER_REVISION"

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
	// AutoscalingPolicy is the runner's policy at the application's level (autoscaling.go).
	AutoscalingPolicy map[string]any `json:"autoscaling_policy,omitempty"`
}

type serveDeploymentConf struct {
	Name string `json:"name"`
	// NumReplicas is absent when AutoscalingConfig is set: Serve refuses both.
	NumReplicas              int                `json:"num_replicas,omitempty"`
	AutoscalingConfig        *autoscalingConfig `json:"autoscaling_config,omitempty"`
	GracefulShutdownTimeoutS float64            `json:"graceful_shutdown_timeout_s"`
	RayActorOptions          map[string]any     `json:"ray_actor_options"`
}

// RunnerDeployment is the runner's Serve deployment name (the class in deliberation_runner.py).
const RunnerDeployment = "DeliberationRunner"

// Config returns the declarative Serve config of the application, as Ray's Serve REST API takes
// it (PUT /api/serve/applications/); a RayService's serveConfigV2 holds the same document.
func (a RunnerApplication) Config() ([]byte, error) {
	if a.ImportPath == "" || a.Args["redis_url"] == nil {
		return nil, errors.New("the runner application needs its import path and a redis_url")
	}
	deployment := serveDeploymentConf{Name: RunnerDeployment, GracefulShutdownTimeoutS: a.shutdownTimeout().Seconds(),
		// The runner's work is HTTP to the model server: it reserves no CPU of its own.
		RayActorOptions: map[string]any{"num_cpus": 0}}
	if a.Autoscaling != nil {
		c, err := a.Autoscaling.config()
		if err != nil {
			return nil, err
		}
		deployment.AutoscalingConfig = &c
	} else {
		deployment.NumReplicas = max(a.Replicas, 1)
	}
	app := serveAppConfig{Name: a.name(), ImportPath: a.ImportPath, Args: a.args(), Deployments: []serveDeploymentConf{deployment}}
	if a.Autoscaling != nil {
		app.AutoscalingPolicy = map[string]any{"policy_function": PolicyFunction}
	}
	env := map[string]any{}
	if a.WorkingDir != "" {
		env["working_dir"] = a.WorkingDir
	}
	if len(a.Pip) > 0 {
		env["pip"] = pipOf(a.Pip)
	}
	vars := maps.Clone(a.Env)
	if a.Revision > 0 {
		if vars == nil {
			vars = map[string]string{}
		}
		vars[RevisionVariable] = strconv.Itoa(a.Revision)
	}
	if a.Digest != "" {
		if vars == nil {
			vars = map[string]string{}
		}
		vars[DigestVariable] = a.Digest
	}
	if len(vars) > 0 {
		env["env_vars"] = vars
	}
	if len(env) > 0 {
		app.RuntimeEnv = env
	}
	return json.Marshal(serveConfig{ProxyLocation: "Disabled", Applications: []serveAppConfig{app}})
}

// args are Args with the cluster and the pools, when set, as the runner reads them.
func (a RunnerApplication) args() map[string]any {
	if a.Cluster == "" && len(a.Pools) == 0 {
		return a.Args
	}
	args := maps.Clone(a.Args)
	if args == nil {
		args = map[string]any{}
	}
	if a.Cluster != "" {
		args["cluster"] = a.Cluster
	}
	if len(a.Pools) > 0 {
		args["pools"] = a.Pools
	}
	return args
}

// HashedPipOptions are the pip install options of hashed requirements. Ray writes runtime_env's
// pip packages, one a line, into a requirements file and runs pip install -r on it with these
// options (they replace Ray's defaults, kept here), so a line's --hash options hold.
var HashedPipOptions = []string{"--require-hashes", "--disable-pip-version-check", "--no-cache-dir"}

// pipOf is runtime_env's pip: the list as it is, or, when every entry is hashed, the dict form
// that installs them with --require-hashes.
func pipOf(packages []string) any {
	for _, p := range packages {
		if !strings.Contains(p, " --hash=sha256:") {
			return packages
		}
	}
	return map[string]any{"packages": packages, "pip_install_options": HashedPipOptions}
}
