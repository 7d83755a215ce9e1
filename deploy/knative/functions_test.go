package knative

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
)

// listenAddress is what every function Service sets: func-go reads LISTEN_ADDRESS, and without
// it falls back to Knative's PORT on 127.0.0.1, out of the kubelet's reach.
const listenAddress = "[::]:8080"

// settings names the ConfigMap and the Secret every func.yaml reads its variables from.
const settings = "ray-executor"

// functions are the functions a Service may run; each Service is named after its function.
var functions = []transport.Function{
	transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs, transport.FunctionCombined,
}

// funcYAML is the part of func.yaml a Knative Service of this folder must agree with. Checking it
// against func's schema is functions/internal/functest's job (TestEveryFuncYAML).
type funcYAML struct {
	Image string `json:"image"`
	Run   struct {
		Envs []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"envs"`
	} `json:"run"`
	Deploy struct {
		Labels []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"labels"`
		Options struct {
			Scale struct {
				Min    *int64   `json:"min"`
				Max    *int64   `json:"max"`
				Metric string   `json:"metric"`
				Target *float64 `json:"target"`
			} `json:"scale"`
			Resources struct {
				Requests struct {
					CPU    string `json:"cpu"`
					Memory string `json:"memory"`
				} `json:"requests"`
				Limits struct {
					CPU         string `json:"cpu"`
					Memory      string `json:"memory"`
					Concurrency *int64 `json:"concurrency"`
				} `json:"limits"`
			} `json:"resources"`
		} `json:"options"`
		HealthEndpoints struct {
			Liveness  string `json:"liveness"`
			Readiness string `json:"readiness"`
		} `json:"healthEndpoints"`
	} `json:"deploy"`
}

func readFuncYAML(t *testing.T, f transport.Function) funcYAML {
	t.Helper()
	path := filepath.Join("..", "..", "functions", string(f), "func.yaml")
	if f == transport.FunctionCombined {
		path = filepath.Join("..", "..", "func.yaml")
	}
	var fy funcYAML
	if err := readLoose(path, &fy); err != nil {
		t.Fatal(err)
	}
	return fy
}

// envSource says where a variable's value comes from, in one comparable form for func.yaml's
// `{{ secret:NAME:KEY }}` and a Service's valueFrom.
type envSource struct{ kind, name, key, value string }

var funcRef = regexp.MustCompile(`^\{\{ (secret|configMap):([^:]+):([^: ]+) \}\}$`)

func (fy funcYAML) env() map[string]envSource {
	out := map[string]envSource{}
	for _, e := range fy.Run.Envs {
		if m := funcRef.FindStringSubmatch(e.Value); m != nil {
			out[e.Name] = envSource{kind: m[1], name: m[2], key: m[3]}
		} else {
			out[e.Name] = envSource{value: e.Value}
		}
	}
	return out
}

func serviceEnv(c corev1.Container) map[string]envSource {
	out := map[string]envSource{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = envSource{value: e.Value}
		case e.ValueFrom.SecretKeyRef != nil:
			out[e.Name] = envSource{kind: "secret", name: e.ValueFrom.SecretKeyRef.Name, key: e.ValueFrom.SecretKeyRef.Key}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			out[e.Name] = envSource{kind: "configMap", name: e.ValueFrom.ConfigMapKeyRef.Name, key: e.ValueFrom.ConfigMapKeyRef.Key}
		default:
			out[e.Name] = envSource{kind: "unsupported"}
		}
	}
	return out
}

// scalingProblems is what every Service of the deployment must do, the dead-letter display
// included: scale to zero, stay inside the cluster, be probed, and reserve and cap its resources.
func scalingProblems(s *servingv1.Service) []string {
	var p []string
	if s.Labels["networking.knative.dev/visibility"] != "cluster-local" {
		p = append(p, "not cluster-local")
	}
	a := s.Spec.Template.Annotations
	if a["autoscaling.knative.dev/class"] != "kpa.autoscaling.knative.dev" {
		p = append(p, "not scaled by the KPA, the autoscaler that scales to zero")
	}
	if a["autoscaling.knative.dev/min-scale"] != "0" {
		p = append(p, "min-scale is not 0")
	}
	if n, err := strconv.Atoi(a["autoscaling.knative.dev/max-scale"]); err != nil || n < 1 {
		p = append(p, "no max-scale")
	}
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return append(p, "want exactly one container")
	}
	c := s.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.LivenessProbe == nil {
		p = append(p, "readiness or liveness probe missing")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		p = append(p, "want CPU and memory requests and a memory limit")
	}
	return p
}

// functionProblems adds what a function's Service needs on top of scalingProblems.
func functionProblems(s *servingv1.Service) []string {
	p := scalingProblems(s)
	a := s.Spec.Template.Annotations
	if a["autoscaling.knative.dev/metric"] != "concurrency" || a["autoscaling.knative.dev/target"] == "" {
		p = append(p, "want a concurrency target")
	}
	if cc := s.Spec.Template.Spec.ContainerConcurrency; cc == nil || *cc < 1 {
		p = append(p, "want a containerConcurrency ceiling")
	}
	if ts := s.Spec.Template.Spec.TimeoutSeconds; ts == nil || *ts > 30 {
		p = append(p, "want a timeoutSeconds of at most func-go's 30 s")
	}
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return p
	}
	c := s.Spec.Template.Spec.Containers[0]
	if env := serviceEnv(c); env["LISTEN_ADDRESS"] != (envSource{value: listenAddress}) {
		p = append(p, "LISTEN_ADDRESS is not "+listenAddress)
	}
	if path := httpPath(c.ReadinessProbe); path != "/health/readiness" {
		p = append(p, "readiness probe on "+path+", want func-go's /health/readiness")
	}
	if path := httpPath(c.LivenessProbe); path != "/health/liveness" {
		p = append(p, "liveness probe on "+path+", want func-go's /health/liveness")
	}
	return p
}

// containerPort is where func-go listens (LISTEN_ADDRESS) and Knative sends a function's traffic.
const containerPort = 8080

// portName is the name of every function Service's one port, which tells Knative the protocol to
// speak to the container ("HTTP/2 and gRPC" in docs/deploy.md): h2c, which native gRPC needs. Every
// image these Services run is ko's build of a main that starts through wiring.Start and speaks
// HTTP/1.1 and h2c (imageProblems); func's build of the root package speaks HTTP/1.1 only, and on
// an h2c port Knative would forward its requests over HTTP/2 and they would fail.
const portName = "h2c"

// portProblems checks that port, and that no probe names a port of its own: Knative probes the
// container's port then, whatever it is called.
func portProblems(s *servingv1.Service) []string {
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return []string{"want exactly one container"}
	}
	c := s.Spec.Template.Spec.Containers[0]
	var p []string
	if len(c.Ports) != 1 || c.Ports[0].Name != portName || c.Ports[0].ContainerPort != containerPort {
		p = append(p, fmt.Sprintf("ports %+v, want one port %s on %d", c.Ports, portName, containerPort))
	}
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if pr != nil && pr.HTTPGet != nil && pr.HTTPGet.Port != (intstr.IntOrString{}) {
			p = append(p, name+" probe names port "+pr.HTTPGet.Port.String())
		}
	}
	return p
}

// koRepo is make images' default KO_DOCKER_REPO. With --base-import-paths ko names each image
// after the last element of its main package's path.
const koRepo = "registry.example.com/rayexecutor"

// mainPackage is the folder, from the module root, of the main package ko builds f's image from.
// The combined function's is deploy/local/combined, not the root package: func's scaffolding of
// that one speaks HTTP/1.1 only.
func mainPackage(f transport.Function) string {
	if f == transport.FunctionCombined {
		return filepath.Join("deploy", "local", "combined")
	}
	return filepath.Join("functions", string(f))
}

// koImage is the image `make images` pushes for f: registry.example.com/rayexecutor/combined:latest
// for the combined function, .../<function>:latest for the four.
func koImage(f transport.Function) string {
	return koRepo + "/" + filepath.Base(mainPackage(f)) + ":latest"
}

// imageProblems checks that a function Service runs ko's image of a main that starts through
// wiring.Start, the server that speaks h2c on portName. The four func.yaml files name that image
// too (func deploys it with --image); the root func.yaml names func's own HTTP/1.1-only build,
// which the combined Service must not run.
func imageProblems(s *servingv1.Service, f transport.Function, fy funcYAML) []string {
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return []string{"want exactly one container"}
	}
	var p []string
	image := s.Spec.Template.Spec.Containers[0].Image
	if image != koImage(f) {
		p = append(p, fmt.Sprintf("image %s, want ko's build of ./%s, %s", image, filepath.ToSlash(mainPackage(f)), koImage(f)))
	}
	switch {
	case f == transport.FunctionCombined && (fy.Image == image || fy.Image == koImage(f)):
		p = append(p, fmt.Sprintf("image %s is the name of func's HTTP/1.1-only build of the root func.yaml", image))
	case f != transport.FunctionCombined && fy.Image != image:
		p = append(p, fmt.Sprintf("image %s, func.yaml has %s", image, fy.Image))
	}
	main, err := os.ReadFile(filepath.Join("..", "..", mainPackage(f), "main.go"))
	if err != nil {
		p = append(p, err.Error())
	} else if !strings.Contains(string(main), "\npackage main\n") || !strings.Contains(string(main), "wiring.Start(") {
		p = append(p, "./"+filepath.ToSlash(mainPackage(f))+"/main.go is no main package starting through wiring.Start")
	}
	return p
}

func httpPath(pr *corev1.Probe) string {
	if pr == nil || pr.HTTPGet == nil {
		return "(no HTTP probe)"
	}
	return pr.HTTPGet.Path
}

// envProblems checks a function's variables against the code: each is one config.Variables()
// reads (or LISTEN_ADDRESS, func-go's), each resolves to a key of the deployment's ConfigMap or
// Secret, and the values pass config.Load with the options the function starts with, which also
// proves the required ones (REDIS_URL, RAY_ADDRESS for the functions that talk to Ray) are set.
func envProblems(s *servingv1.Service, f transport.Function, d deployment) []string {
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return []string{"want exactly one container"}
	}
	var p []string
	values := map[string]string{}
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		if e.Name != "LISTEN_ADDRESS" && !slices.Contains(config.Variables(), e.Name) {
			p = append(p, e.Name+" is read by no code")
		}
		if _, dup := values[e.Name]; dup {
			p = append(p, e.Name+" is set twice")
		}
		v, err := d.resolve(e)
		if err != nil {
			p = append(p, err.Error())
		}
		values[e.Name] = v
	}
	if _, err := config.Load(func(k string) string { return values[k] }, config.Options{NeedsRay: f.NeedsRay()}); err != nil {
		p = append(p, err.Error())
	}
	return p
}

// resolve is the value the kubelet would put in the variable; a missing key stops the pod.
func (d deployment) resolve(e corev1.EnvVar) (string, error) {
	switch {
	case e.ValueFrom == nil:
		return e.Value, nil
	case e.ValueFrom.ConfigMapKeyRef != nil:
		ref := e.ValueFrom.ConfigMapKeyRef
		for _, cm := range d.configMaps {
			if v, ok := cm.Data[ref.Key]; ok && cm.Name == ref.Name {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
	case e.ValueFrom.SecretKeyRef != nil:
		ref := e.ValueFrom.SecretKeyRef
		for _, s := range d.secrets {
			if s.Name != ref.Name {
				continue
			}
			if v, ok := s.StringData[ref.Key]; ok {
				return v, nil
			}
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
		}
		return "", fmt.Errorf("%s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
	}
	return "", fmt.Errorf("%s: only literal values, ConfigMap and Secret keys are used here", e.Name)
}

// funcYAMLProblems keeps `func deploy` and `kubectl apply` deploying the same function: variables
// from the same keys, labels, scale, resources and health endpoints (the image: imageProblems).
func funcYAMLProblems(s *servingv1.Service, fy funcYAML) []string {
	if len(s.Spec.Template.Spec.Containers) != 1 {
		return []string{"want exactly one container"}
	}
	var p []string
	c := s.Spec.Template.Spec.Containers[0]
	want := fy.env()
	want["LISTEN_ADDRESS"] = envSource{value: listenAddress}
	got := serviceEnv(c)
	for name, src := range want {
		if got[name] != src {
			p = append(p, fmt.Sprintf("%s comes from %+v, func.yaml says %+v", name, got[name], src))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			p = append(p, name+" is not in func.yaml")
		}
	}
	for _, l := range fy.Deploy.Labels {
		if s.Labels[l.Key] != l.Value {
			p = append(p, "label "+l.Key+" differs from func.yaml")
		}
	}
	sc, a := fy.Deploy.Options.Scale, s.Spec.Template.Annotations
	for key, v := range map[string]string{
		"min-scale": fmtInt(sc.Min), "max-scale": fmtInt(sc.Max), "metric": sc.Metric, "target": fmtFloat(sc.Target),
	} {
		if a["autoscaling.knative.dev/"+key] != v {
			p = append(p, "annotation "+key+" differs from func.yaml")
		}
	}
	res := fy.Deploy.Options.Resources
	for name, pair := range map[string][2]string{
		"requests.cpu":    {c.Resources.Requests.Cpu().String(), res.Requests.CPU},
		"requests.memory": {c.Resources.Requests.Memory().String(), res.Requests.Memory},
		"limits.cpu":      {c.Resources.Limits.Cpu().String(), res.Limits.CPU},
		"limits.memory":   {c.Resources.Limits.Memory().String(), res.Limits.Memory},
	} {
		if !sameQuantity(pair[0], pair[1]) {
			p = append(p, fmt.Sprintf("%s is %s, func.yaml has %q", name, pair[0], pair[1]))
		}
	}
	if cc := s.Spec.Template.Spec.ContainerConcurrency; fmtInt(cc) != fmtInt(res.Limits.Concurrency) {
		p = append(p, "containerConcurrency differs from func.yaml's limits.concurrency")
	}
	if httpPath(c.ReadinessProbe) != fy.Deploy.HealthEndpoints.Readiness || httpPath(c.LivenessProbe) != fy.Deploy.HealthEndpoints.Liveness {
		p = append(p, "probe paths differ from func.yaml's healthEndpoints")
	}
	return p
}

func fmtInt(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

func fmtFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// sameQuantity compares a Service's quantity with func.yaml's; func.yaml leaving one out means
// the Service must not set it either (Kubernetes reports an unset quantity as 0).
func sameQuantity(svc, fy string) bool {
	if fy == "" {
		return svc == "0"
	}
	q, err := resource.ParseQuantity(fy)
	return err == nil && q.Cmp(resource.MustParse(svc)) == 0
}

func TestFunctionServices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dir  string
		want []transport.Function
	}{
		{perFunction, []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs}},
		{combined, []transport.Function{transport.FunctionCombined}},
	} {
		d := load(t, tc.dir)
		var found []transport.Function
		for _, s := range d.services {
			f := transport.Function(s.Name)
			if !slices.Contains(functions, f) {
				// Not a function: the dead-letter display still scales to zero like the rest.
				for _, msg := range scalingProblems(s) {
					t.Errorf("%s: Service %s: %s", tc.dir, s.Name, msg)
				}
				continue
			}
			found = append(found, f)
			t.Run(tc.dir+"/"+s.Name, func(t *testing.T) {
				t.Parallel()
				for _, msg := range functionProblems(s) {
					t.Error(msg)
				}
				for _, msg := range portProblems(s) {
					t.Error(msg)
				}
				for _, msg := range envProblems(s, f, d) {
					t.Error(msg)
				}
				fy := readFuncYAML(t, f)
				for _, msg := range imageProblems(s, f, fy) {
					t.Error(msg)
				}
				for _, msg := range funcYAMLProblems(s, fy) {
					t.Error(msg)
				}
			})
		}
		if !sameSet(found, tc.want) {
			t.Errorf("%s deploys %v, want %v", tc.dir, found, tc.want)
		}
	}
}

// TestSettingsHoldOnlyWhatIsRead keeps the ConfigMap and the Secret free of keys no function reads:
// an operator setting one would expect an effect that never comes.
func TestSettingsHoldOnlyWhatIsRead(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	used := map[envSource]bool{}
	for _, s := range d.services {
		for _, src := range serviceEnv(s.Spec.Template.Spec.Containers[0]) {
			used[envSource{kind: src.kind, name: src.name, key: src.key}] = true
		}
	}
	var keys []envSource
	for _, cm := range d.configMaps {
		if cm.Name == settings { // the other one is Redis's own configuration
			for key := range cm.Data {
				keys = append(keys, envSource{kind: "configMap", name: cm.Name, key: key})
			}
		}
	}
	for _, s := range d.secrets {
		for key := range s.StringData {
			keys = append(keys, envSource{kind: "secret", name: s.Name, key: key})
		}
		for key := range s.Data {
			keys = append(keys, envSource{kind: "secret", name: s.Name, key: key})
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no settings found in ConfigMap and Secret %s", settings)
	}
	for _, k := range keys {
		if !used[k] {
			t.Errorf("%s %s: %s is read by no function", k.kind, k.name, k.key)
		}
	}
}

// TestFunctionChecksCatchMistakes proves the checks above can fail, one broken field at a time.
func TestFunctionChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	good := d.service(string(transport.FunctionStatus))
	fy := readFuncYAML(t, transport.FunctionStatus)
	mutated := func(mutate func(s *servingv1.Service)) *servingv1.Service {
		s := good.DeepCopy()
		mutate(s)
		return s
	}
	goodCombined := load(t, combined).service(string(transport.FunctionCombined))
	fyCombined := readFuncYAML(t, transport.FunctionCombined)
	mutatedCombined := func(mutate func(s *servingv1.Service)) *servingv1.Service {
		s := goodCombined.DeepCopy()
		mutate(s)
		return s
	}
	env := func(s *servingv1.Service) *[]corev1.EnvVar { return &s.Spec.Template.Spec.Containers[0].Env }
	cases := []struct {
		name  string
		check func() []string
	}{
		{"public", func() []string {
			return functionProblems(mutated(func(s *servingv1.Service) { delete(s.Labels, "networking.knative.dev/visibility") }))
		}},
		{"never scales to zero", func() []string {
			return functionProblems(mutated(func(s *servingv1.Service) { s.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "1" }))
		}},
		{"no LISTEN_ADDRESS", func() []string {
			return functionProblems(mutated(func(s *servingv1.Service) { (*env(s))[0].Value = "127.0.0.1:8080" }))
		}},
		{"port http1: no native gRPC", func() []string {
			return portProblems(mutated(func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].Ports[0].Name = "http1" }))
		}},
		{"the combined Service on port http1", func() []string {
			return portProblems(mutatedCombined(func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].Ports[0].Name = "http1" }))
		}},
		{"port other than LISTEN_ADDRESS's", func() []string {
			return portProblems(mutated(func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 8081 }))
		}},
		{"a probe on a named port", func() []string {
			return portProblems(mutated(func(s *servingv1.Service) {
				s.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("http1")
			}))
		}},
		{"func's HTTP/1.1-only image on the combined Service", func() []string {
			return imageProblems(mutatedCombined(func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].Image = fyCombined.Image }),
				transport.FunctionCombined, fyCombined)
		}},
		{"func.yaml naming another image", func() []string {
			other := fy
			other.Image = "registry.example.com/rayexecutor/get-stats:latest"
			return imageProblems(good, transport.FunctionStatus, other)
		}},
		{"the root func.yaml naming ko's image", func() []string {
			renamed := fyCombined
			renamed.Image = koImage(transport.FunctionCombined)
			return imageProblems(goodCombined, transport.FunctionCombined, renamed)
		}},
		{"liveness on the wrong path", func() []string {
			return functionProblems(mutated(func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/healthz" }))
		}},
		{"no memory limit", func() []string {
			return functionProblems(mutated(func(s *servingv1.Service) {
				delete(s.Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
			}))
		}},
		{"a variable no code reads", func() []string {
			return envProblems(mutated(func(s *servingv1.Service) {
				*env(s) = append(*env(s), corev1.EnvVar{Name: "RAY_ADRESS", Value: "http://ray:8265"})
			}), transport.FunctionStatus, d)
		}},
		{"a required variable missing", func() []string {
			return envProblems(mutated(func(s *servingv1.Service) {
				*env(s) = slices.DeleteFunc(*env(s), func(e corev1.EnvVar) bool { return e.Name == "REDIS_URL" })
			}), transport.FunctionStatus, d)
		}},
		{"a key the ConfigMap lacks", func() []string {
			return envProblems(mutated(func(s *servingv1.Service) {
				for i := range *env(s) {
					if ref := (*env(s))[i].ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
						ref.ConfigMapKeyRef.Key = "NO_SUCH_KEY"
					}
				}
			}), transport.FunctionStatus, d)
		}},
		{"a value config.Load refuses", func() []string {
			return envProblems(mutated(func(s *servingv1.Service) {
				*env(s) = append(*env(s), corev1.EnvVar{Name: "MAX_AGENTS", Value: "many"})
			}), transport.FunctionStatus, d)
		}},
		{"a variable func.yaml does not set", func() []string {
			return funcYAMLProblems(mutated(func(s *servingv1.Service) {
				*env(s) = append(*env(s), corev1.EnvVar{Name: "VLLM_URL_ALLOWLIST", Value: "http://vllm:8000"})
			}), fy)
		}},
		{"max-scale other than func.yaml's", func() []string {
			return funcYAMLProblems(mutated(func(s *servingv1.Service) { s.Spec.Template.Annotations["autoscaling.knative.dev/max-scale"] = "3" }), fy)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if len(tc.check()) == 0 {
				t.Error("the check found nothing wrong")
			}
		})
	}
}

// TestKustomizeImagesNameTheServices keeps each kustomization's images: entries, where a registry
// is set, in step with the images its function Services run: an entry naming no image is silently
// ignored by kustomize, and a Service without one keeps the placeholder registry.
func TestKustomizeImagesNameTheServices(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{perFunction, combined} {
		var k kustomization
		if err := readStrict(filepath.Join(dir, "kustomization.yaml"), &k); err != nil {
			t.Fatal(err)
		}
		var entries []string
		for _, img := range k.Images {
			entries = append(entries, img.Name)
		}
		for _, problem := range kustomizeImageProblems(entries, load(t, dir).services) {
			t.Errorf("%s/kustomization.yaml: %s", dir, problem)
		}
	}
	// The check can fail: the combined kustomization still naming func's image.
	if len(kustomizeImageProblems([]string{"registry.example.com/rayexecutor/ray-executor"}, load(t, combined).services)) == 0 {
		t.Error("an images: entry naming func's image went unnoticed")
	}
}

func kustomizeImageProblems(entries []string, services []*servingv1.Service) []string {
	images := map[string]bool{} // of the function Services
	for _, s := range services {
		if slices.Contains(functions, transport.Function(s.Name)) {
			images[imageName(s.Spec.Template.Spec.Containers[0].Image)] = true
		}
	}
	var p []string
	for _, e := range entries {
		if !images[e] {
			p = append(p, "images: entry "+e+" names no function Service's image")
		}
	}
	for image := range images {
		if !slices.Contains(entries, image) {
			p = append(p, "no images: entry for "+image)
		}
	}
	return p
}

// imageName is an image reference without its tag or digest, as kustomize's images: name it.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
