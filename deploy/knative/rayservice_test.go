package knative

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// rayService is the part of KubeRay's RayService that deploy/ray/rayservice.yaml uses, decoded
// strictly (a misspelt field fails); serveConfigV2 is Serve's own YAML, checked on its own.
type rayService struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		ServeConfigV2    string         `json:"serveConfigV2"`
		RayClusterConfig rayClusterSpec `json:"rayClusterConfig"`
	} `json:"spec"`
}

var rayServicePath = filepath.Join("..", "ray", "rayservice.yaml")

func loadRayService(t *testing.T) rayService {
	t.Helper()
	var rs rayService
	if err := readStrict(rayServicePath, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// runnerWant is what the rest of the repository says the runner's RayService must hold.
type runnerWant struct {
	keyPrefix   string                       // the functions' REDIS_KEY_PREFIX
	redisURL    *url.URL                     // the functions' REDIS_URL
	redisMode   string                       // the functions' REDIS_MODE
	serves      func(host, port string) bool // a Service of deploy/knative at host:port
	redisPin    string                       // redis==<version>, as deploy/local/requirements.txt pins it
	otlpPin     string                       // the OTLP exporter, as deploy/local/requirements.txt pins it
	rayVersion  string                       // the Ray of deploy/local/requirements.txt
	packageName string                       // rayjob.Package()'s content-addressed name
	maxActive   int                          // the functions' MAX_ACTIVE_DELIBERATIONS
	settings    map[string]string            // the runner's settings (its args) and their defaults
	clusterName string                       // the RayCluster of deploy/ray/raycluster.yaml
	scaling     rayserve.Autoscaling         // the functions' RAY_RUNNER_* bounds and delays
	limits      map[string]any               // the runner's own limits from the functions' settings, as JSON reads them
}

func loadRunnerWant(t *testing.T) runnerWant {
	t.Helper()
	d := load(t, perFunction)
	w := runnerWant{serves: d.serves, keyPrefix: functionSetting(t, d, "REDIS_KEY_PREFIX"),
		clusterName: loadRayCluster(t).Metadata.Name, settings: runnerSettings(t)}
	var err error
	if w.redisURL, err = url.Parse(functionSetting(t, d, "REDIS_URL")); err != nil {
		t.Fatal(err)
	}
	w.redisMode = config.Default("REDIS_MODE") // the Services of deploy/knative leave it to its default
	if w.maxActive, err = strconv.Atoi(functionSetting(t, d, "MAX_ACTIVE_DELIBERATIONS")); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(func(k string) string {
		switch {
		case strings.HasPrefix(k, "RAY_RUNNER_") && k != "RAY_RUNNER_REDIS_URL",
			k == "VLLM_URL_ALLOWLIST", k == "RAY_EXECUTOR_CALLBACK_URL", k == "MAX_AGENTS", k == "MAX_ANSWER_BYTES":
			return functionSetting(t, d, k)
		}
		return ""
	}, config.Options{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	own, err := json.Marshal(deliberation.Limits{MaxAgents: c.MaxAgents, Allowlist: c.Allowlist, MaxAnswerBytes: c.MaxAnswerBytes}.
		OwnLimits(c.Ray.CallbackURL).RunnerArgs())
	if err == nil {
		err = json.Unmarshal(own, &w.limits)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.scaling = rayserve.Autoscaling{MinReplicas: c.Ray.RunnerMinReplicas, MaxReplicas: c.Ray.RunnerMaxReplicas,
		UpscaleDelay: c.Ray.RunnerUpscaleDelay, DownscaleDelay: c.Ray.RunnerDownscaleDelay}
	reqs, err := os.ReadFile(filepath.Join("..", "local", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	redisPin := regexp.MustCompile(`(?m)^redis==\S+$`).Find(reqs)
	w.otlpPin = string(regexp.MustCompile(`(?m)^opentelemetry-exporter-otlp-proto-http==\S+$`).Find(reqs))
	rayPin := regexp.MustCompile(`(?m)^ray\[[a-z,]*\]==(\S+)$`).FindSubmatch(reqs)
	if redisPin == nil || rayPin == nil {
		t.Fatal("deploy/local/requirements.txt pins no redis or no Ray")
	}
	w.redisPin, w.rayVersion = string(redisPin), string(rayPin[1])
	if w.packageName, _, err = rayjob.Package(); err != nil {
		t.Fatal(err)
	}
	return w
}

// functionSetting is what the functions' pods read for name: a Service's variable, resolved,
// or the built-in default when empty.
func functionSetting(t *testing.T, d deployment, name string) string {
	t.Helper()
	for _, s := range d.services {
		for _, e := range s.Spec.Template.Spec.Containers[0].Env {
			if e.Name != name {
				continue
			}
			v, err := d.resolve(e)
			if err != nil {
				t.Fatal(err)
			}
			if v == "" {
				v = config.Default(name)
			}
			return v
		}
	}
	t.Fatalf("no Service sets %s", name)
	return ""
}

// runnerSettings reads the fields of the runner's Settings (its Serve args) and their defaults
// from runner_settings.py, so the check knows every argument the runner takes.
func runnerSettings(t *testing.T) map[string]string {
	t.Helper()
	files, err := rayjob.Files()
	if err != nil {
		t.Fatal(err)
	}
	src := files["runner_settings.py"]
	start := strings.Index(src, "\nclass Settings:")
	end := strings.Index(src[max(start, 0):], "@staticmethod")
	if start < 0 || end < 0 {
		t.Fatal("runner_settings.py has no Settings dataclass")
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^    ([a-z_]+): (?:str|int|float|tuple\[str, \.\.\.\] \| None)(?: = ([^\s#]+))?`).FindAllStringSubmatch(src[start:start+end], -1) {
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	for _, name := range []string{"redis_url", "key_prefix", "max_deliberations"} {
		if _, ok := out[name]; !ok {
			t.Fatalf("the runner's Settings have no %s", name)
		}
	}
	return out
}

// TestRayServiceRunsTheRunner checks deploy/ray/rayservice.yaml against what it must agree with:
// its Serve config is rayserve.RunnerApplication.Config()'s document (plus the pip pin) reading the
// functions' Redis under their key prefix with the current runner package, and its cluster passes
// the RayCluster's checks.
func TestRayServiceRunsTheRunner(t *testing.T) {
	t.Parallel()
	for _, msg := range rayServiceProblems(loadRayService(t), loadRunnerWant(t)) {
		t.Error(msg)
	}
}

func rayServiceProblems(rs rayService, w runnerWant) []string {
	var p []string
	if rs.APIVersion != "ray.io/v1" || rs.Kind != "RayService" {
		p = append(p, fmt.Sprintf("want a ray.io/v1 RayService, got %s %s", rs.APIVersion, rs.Kind))
	}
	if rs.Metadata.Name == "" || rs.Metadata.Name == w.clusterName {
		p = append(p, fmt.Sprintf("name %q: KubeRay names the head Service <name>-head-svc, which must not be the RayCluster's", rs.Metadata.Name))
	}
	if rs.Metadata.Labels["app.kubernetes.io/part-of"] != "ray-executor" {
		p = append(p, "want the label app.kubernetes.io/part-of: ray-executor")
	}
	p = append(p, serveConfigProblems(rs.Spec.ServeConfigV2, w)...)

	c := rs.Spec.RayClusterConfig
	if c.RayVersion != w.rayVersion {
		p = append(p, fmt.Sprintf("rayVersion %s is not the Ray of deploy/local/requirements.txt (%s)", c.RayVersion, w.rayVersion))
	}
	if c.HeadGroupSpec.RayStartParams["dashboard-host"] != "0.0.0.0" {
		p = append(p, "KubeRay deploys the Serve config through the dashboard: it must listen beyond the head pod")
	}
	p = append(p, c.containerProblems()...)
	for _, g := range c.WorkerGroupSpecs {
		for _, ctr := range g.Template.Spec.Containers {
			if ctr.ReadinessProbe == nil || probesServeProxy(ctr.ReadinessProbe) {
				p = append(p, fmt.Sprintf("worker group %s, container %s: set a readinessProbe of the node's own health; "+
					"KubeRay's default probes Serve's HTTP proxy, which the runner's config turns off", g.GroupName, ctr.Name))
			}
		}
	}
	return p
}

func probesServeProxy(pr *corev1.Probe) bool {
	if pr.HTTPGet != nil {
		return pr.HTTPGet.Port.IntValue() == 8000 || strings.Contains(pr.HTTPGet.Path, "-/healthz")
	}
	return pr.Exec != nil && strings.Contains(strings.Join(pr.Exec.Command, " "), "-/healthz")
}

// serveConfigProblems compares the Serve config with the document rayserve.RunnerApplication.Config()
// writes for the same package URL, replicas and tuning args, with the pip and revision the
// functions deploy (redis pinned as the tests run it), and with the functions' Redis and key prefix.
func serveConfigProblems(doc string, w runnerWant) []string {
	asJSON, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return []string{"serveConfigV2: " + err.Error()}
	}
	var got map[string]any
	var typed struct {
		Applications []struct {
			RuntimeEnv struct {
				WorkingDir string `json:"working_dir"`
			} `json:"runtime_env"`
			Args        map[string]any `json:"args"`
			Deployments []struct {
				NumReplicas       int `json:"num_replicas"`
				AutoscalingConfig *struct {
					MinReplicas     int     `json:"min_replicas"`
					MaxReplicas     int     `json:"max_replicas"`
					UpscaleDelayS   float64 `json:"upscale_delay_s"`
					DownscaleDelayS float64 `json:"downscale_delay_s"`
				} `json:"autoscaling_config"`
			} `json:"deployments"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(asJSON, &got); err != nil {
		return []string{"serveConfigV2: " + err.Error()}
	}
	if err := json.Unmarshal(asJSON, &typed); err != nil {
		return []string{"serveConfigV2: " + err.Error()}
	}
	if len(typed.Applications) != 1 || len(typed.Applications[0].Deployments) != 1 {
		return []string{"serveConfigV2: want one application, the runner, with its one deployment"}
	}
	app := typed.Applications[0]
	replicas := app.Deployments[0].NumReplicas
	var scaling *rayserve.Autoscaling
	if a := app.Deployments[0].AutoscalingConfig; a != nil {
		scaling = &rayserve.Autoscaling{MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas,
			UpscaleDelay: time.Duration(a.UpscaleDelayS * float64(time.Second)), DownscaleDelay: time.Duration(a.DownscaleDelayS * float64(time.Second))}
		replicas = a.MaxReplicas
	}

	// The expected args: the functions' key prefix, redis_url as given (checked below), and the
	// tuning args the runner's Settings know; any other arg shows up as not in the runner's config.
	args := map[string]any{"redis_url": app.Args["redis_url"], "key_prefix": w.keyPrefix}
	for name, v := range app.Args {
		if _, known := w.settings[name]; known && name != "key_prefix" {
			args[name] = v
		}
	}
	revision, _, err := rayjob.RunnerRevision()
	if err != nil {
		return []string{err.Error()}
	}
	digest, err := rayjob.PackageDigest()
	if err != nil {
		return []string{err.Error()}
	}
	raw, err := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, WorkingDir: app.RuntimeEnv.WorkingDir,
		Args: args, Replicas: replicas, Autoscaling: scaling, Pip: rayjob.RunnerRequirements(), Revision: revision, Digest: digest}.Config()
	if err != nil {
		return []string{"serveConfigV2: " + err.Error()}
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		return []string{err.Error()}
	}
	p := configDiff("serveConfigV2", got, want)
	if scaling == nil || *scaling != w.scaling {
		p = append(p, fmt.Sprintf("the runner's autoscaling %+v is not the functions' RAY_RUNNER_* settings %+v", scaling, w.scaling))
	}
	if rayjob.RunnerOTLPPin != w.otlpPin {
		p = append(p, fmt.Sprintf("rayjob.RunnerOTLPPin %s is not the exporter of deploy/local/requirements.txt (%q)", rayjob.RunnerOTLPPin, w.otlpPin))
	}
	if reqs := rayjob.RunnerRequirements(); len(reqs) == 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(w.redisPin)+`( --hash=sha256:[0-9a-f]{64})+$`).MatchString(reqs[0]) {
		p = append(p, fmt.Sprintf("the runner's requirements %q do not start with %s and its sha256 hashes", reqs, w.redisPin))
	}
	if rayjob.RunnerRedisPin != w.redisPin {
		p = append(p, fmt.Sprintf("rayjob.RunnerRedisPin %s is not the redis of deploy/local/requirements.txt (%s)", rayjob.RunnerRedisPin, w.redisPin))
	}

	if u, err := url.Parse(app.RuntimeEnv.WorkingDir); err != nil || u.Scheme != "https" || u.Host == "" || path.Base(u.Path) != w.packageName {
		p = append(p, fmt.Sprintf("working_dir %q is not an https URL of the current runner package %s "+
			"(make runner-package pins it; publish it)", app.RuntimeEnv.WorkingDir, w.packageName))
	}
	redisURL, _ := app.Args["redis_url"].(string)
	u, err := url.Parse(redisURL)
	if err != nil || u.Scheme != w.redisURL.Scheme || u.Host != w.redisURL.Host || u.Path != w.redisURL.Path {
		p = append(p, fmt.Sprintf("redis_url %q is not the functions' Redis and database (REDIS_URL %s://%s%s)",
			redisURL, w.redisURL.Scheme, w.redisURL.Host, w.redisURL.Path))
	}
	if mode, _ := app.Args["redis_mode"].(string); mode != w.redisMode {
		p = append(p, fmt.Sprintf("redis_mode %q is not the functions' REDIS_MODE %q (the runner reads redis_url by it)", mode, w.redisMode))
	}
	if err == nil && !w.serves(u.Hostname(), cmp.Or(u.Port(), "6379")) {
		p = append(p, fmt.Sprintf("redis_url names %s, which no Service of deploy/knative serves", u.Host))
	}
	for name, want := range w.limits {
		if !reflect.DeepEqual(app.Args[name], want) {
			p = append(p, fmt.Sprintf("the runner's %s is %v, not the functions' %v (VLLM_URL_ALLOWLIST, RAY_EXECUTOR_CALLBACK_URL, "+
				"MAX_AGENTS, MAX_ANSWER_BYTES): the runner refuses what its own limits do not allow", name, app.Args[name], want))
		}
	}
	perReplicaText := w.settings["max_deliberations"]
	if v, ok := app.Args["max_deliberations"]; ok {
		perReplicaText = fmt.Sprint(v)
	}
	perReplica, err := strconv.ParseFloat(perReplicaText, 64)
	if err != nil || float64(replicas)*perReplica < float64(w.maxActive) {
		p = append(p, fmt.Sprintf("%d replicas at most, of %v deliberations each, run fewer than MAX_ACTIVE_DELIBERATIONS (%d) at once",
			replicas, perReplica, w.maxActive))
	}
	return p
}

// configDiff lists where got differs from want, naming each field by its path: missing, different,
// or present in got only (a misspelt or unknown field).
func configDiff(at string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, want an object", at, show(got))}
		}
		var p []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if gv, ok := g[k]; ok {
				p = append(p, configDiff(at+"."+k, gv, w[k])...)
			} else {
				p = append(p, fmt.Sprintf("%s.%s is missing, want %s", at, k, show(w[k])))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				p = append(p, fmt.Sprintf("%s.%s is not in the runner's config", at, k))
			}
		}
		return p
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s is %s, want %s", at, show(got), show(want))}
		}
		var p []string
		for i := range w {
			p = append(p, configDiff(fmt.Sprintf("%s[%d]", at, i), g[i], w[i])...)
		}
		return p
	}
	if !reflect.DeepEqual(got, want) {
		return []string{fmt.Sprintf("%s is %s, want %s", at, show(got), show(want))}
	}
	return nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func TestRayServiceChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	good := loadRayService(t)
	w := loadRunnerWant(t)
	if p := rayServiceProblems(good, w); len(p) > 0 {
		t.Fatalf("rayservice.yaml itself has problems: %v", p)
	}
	// Each edit of the Serve config must match exactly once, or the case would test nothing.
	serve := func(pattern, repl string) func(*rayService, *runnerWant) {
		return func(rs *rayService, _ *runnerWant) {
			re := regexp.MustCompile(pattern)
			if n := len(re.FindAllStringIndex(rs.Spec.ServeConfigV2, -1)); n != 1 {
				t.Fatalf("%s matches %d times in serveConfigV2, want once", pattern, n)
			}
			rs.Spec.ServeConfigV2 = re.ReplaceAllString(rs.Spec.ServeConfigV2, repl)
		}
	}
	for name, mutate := range map[string]func(*rayService, *runnerWant){
		"wrong import path":      serve(`import_path: deliberation_runner:app`, "import_path: deliberation_job:app"),
		"another key prefix":     serve(`key_prefix: \S+`, "key_prefix: another"),
		"unpinned redis":         serve(`"redis==[^"]+"`, `"redis"`),
		"another redis pin":      serve(`"redis==8\.2\.0 `, `"redis==5.0.0 `),
		"unhashed redis":         serve(`"redis==([^ "]+)[^"]*"`, `"redis==$1"`),
		"another hash":           serve(`--hash=sha256:4ff6`, "--hash=sha256:0ff6"),
		"hashes not required":    serve(`"--require-hashes", `, ""),
		"HTTP proxy on":          serve(`proxy_location: Disabled`, "proxy_location: EveryNode"),
		"a route":                serve(`route_prefix: null`, "route_prefix: /runner"),
		"another application":    serve(`name: deliberation-runner`, "name: runner"),
		"another deployment":     serve(`name: DeliberationRunner`, "name: Runner"),
		"a CPU per replica":      serve(`num_cpus: 0`, "num_cpus: 1"),
		"misspelt field":         serve(`import_path:`, "import_pth:"),
		"unknown arg":            serve(`(?m)^([ \t]*)key_prefix: (\S+)$`, "${1}key_prefix: $2\n${1}max_deliberation: 40"),
		"another Redis":          serve(`redis://redis\.[^/\s]+`, "redis://redis.other.svc.cluster.local:6379"),
		"another Redis database": serve(`(redis://\S+)/0`, "$1/1"),
		"another Redis mode":     serve(`redis_mode: standalone`, "redis_mode: cluster"),
		"Redis mode left out":    serve(`(?m)^[ \t]*redis_mode: standalone\n`, ""),
		// The functions' REDIS_URL moved along, so only the Service check can see it.
		"Redis no Service serves": func(rs *rayService, w *runnerWant) {
			serve(`redis://([^:/\s]+):6379`, "redis://$1:6380")(rs, w)
			moved := *w.redisURL
			moved.Host = moved.Hostname() + ":6380"
			w.redisURL = &moved
		},
		"another model server":           serve(`allowed_origins: \[[^\]]*\]`, `allowed_origins: ["*"]`),
		"no allowed origins":             serve(`(?m)^[ \t]*allowed_origins: .*\n`, ""),
		"a foreign callback":             serve(`callback_url: \S+`, "callback_url: http://evil.example/"),
		"more agents than the functions": serve(`max_agents: 16`, "max_agents: 5000"),
		"a larger answer cap":            serve(`max_answer_bytes: 65536`, "max_answer_bytes: 1000000000000"),
		"stale package":                  serve(`_ray_pkg_[0-9a-f]{64}\.zip`, "_ray_pkg_"+strings.Repeat("0", 64)+".zip"),
		"another package digest":         serve(`RAYEXEC_RUNNER_DIGEST: "[0-9a-f]{64}"`, `RAYEXEC_RUNNER_DIGEST: "`+strings.Repeat("1", 64)+`"`),
		"no package digest":              serve(`(?m)^[ \t]*RAYEXEC_RUNNER_DIGEST: .*\n`, ""),
		"stale revision":                 serve(`RAYEXEC_RUNNER_REVISION: "\d+"`, `RAYEXEC_RUNNER_REVISION: "0"`),
		"requirements pin another redis": func(_ *rayService, w *runnerWant) { w.redisPin = "redis==5.0.0" },
		"package over http":              serve(`working_dir: https://`, "working_dir: http://"),
		"no package":                     serve(`(?m)^[ \t]*working_dir: .*\n`, ""),
		// At 1,000 deliberations a replica, no replica count in reach is too few for the default
		// limit: the functions admitting more is what the capacity check must see.
		"functions admit more than the replicas hold": func(_ *rayService, w *runnerWant) { w.maxActive = 1 << 30 },
		"fixed replicas":              serve(`(?s)autoscaling_config:.*?aggregation_function: \S+\n`, "num_replicas: 8\n"),
		"another downscale delay":     serve(`downscale_delay_s: \d+`, "downscale_delay_s: 1"),
		"settings of another maximum": func(_ *rayService, w *runnerWant) { w.scaling.MaxReplicas++ },
		"no application policy":       serve(`(?m)^[ \t]*autoscaling_policy:\n[ \t]*policy_function: \S+\n`, ""),
		"a short graceful shutdown":   serve(`graceful_shutdown_timeout_s: \d+`, "graceful_shutdown_timeout_s: 5"),
		"floating image tag": func(rs *rayService, _ *runnerWant) {
			rs.Spec.RayClusterConfig.HeadGroupSpec.Template.Spec.Containers[0].Image = "rayproject/ray:latest"
		},
		"another Ray": func(rs *rayService, _ *runnerWant) { rs.Spec.RayClusterConfig.RayVersion = "2.9.0" },
		"API key in plain text": func(rs *rayService, _ *runnerWant) {
			rs.Spec.RayClusterConfig.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VLLM_API_KEY", Value: "sk-123"}}
		},
		"worker probes the proxy": func(rs *rayService, _ *runnerWant) {
			rs.Spec.RayClusterConfig.WorkerGroupSpecs[0].Template.Spec.Containers[0].ReadinessProbe = nil
		},
		"the RayCluster's name": func(rs *rayService, w *runnerWant) { rs.Metadata.Name = w.clusterName },
	} {
		rs, want := good, w
		rs.Spec.RayClusterConfig = deepCopySpec(t, good.Spec.RayClusterConfig)
		mutate(&rs, &want)
		if len(rayServiceProblems(rs, want)) == 0 {
			t.Errorf("%s: the checks found nothing wrong", name)
		}
	}

	// The manifest is decoded strictly: a misspelt field of the RayService fails to load.
	raw, err := os.ReadFile(rayServicePath)
	if err != nil {
		t.Fatal(err)
	}
	misspelt := filepath.Join(t.TempDir(), "rayservice.yaml")
	if err := os.WriteFile(misspelt, []byte(strings.Replace(string(raw), "rayClusterConfig:", "rayClusterConfg:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := readStrict(misspelt, &rayService{}); err == nil {
		t.Error("a misspelt rayClusterConfig was accepted")
	}
}

// deepCopySpec copies a cluster spec through JSON, so a case's edit cannot reach the others.
func deepCopySpec(t *testing.T, s rayClusterSpec) rayClusterSpec {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out rayClusterSpec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
