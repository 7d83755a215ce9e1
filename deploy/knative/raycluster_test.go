package knative

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// rayCluster is the part of KubeRay's RayCluster the sample uses, decoded strictly (a misspelt
// field fails), with the pod templates in Kubernetes' own type.
type rayCluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec rayClusterSpec `json:"spec"`
}

// rayClusterSpec is KubeRay's RayClusterSpec as far as the samples use it: the spec of the
// RayCluster and the rayClusterConfig of the RayService (rayservice.yaml).
type rayClusterSpec struct {
	RayVersion              string `json:"rayVersion"`
	EnableInTreeAutoscaling bool   `json:"enableInTreeAutoscaling"`
	HeadGroupSpec           struct {
		RayStartParams map[string]string      `json:"rayStartParams"`
		Template       corev1.PodTemplateSpec `json:"template"`
	} `json:"headGroupSpec"`
	WorkerGroupSpecs []struct {
		GroupName      string                 `json:"groupName"`
		Replicas       *int32                 `json:"replicas"`
		MinReplicas    *int32                 `json:"minReplicas"`
		MaxReplicas    *int32                 `json:"maxReplicas"`
		RayStartParams map[string]string      `json:"rayStartParams"`
		Template       corev1.PodTemplateSpec `json:"template"`
	} `json:"workerGroupSpecs"`
}

// containerProblems runs rayContainerProblems on every container of the cluster's pod templates.
func (s rayClusterSpec) containerProblems() []string {
	templates := []corev1.PodTemplateSpec{s.HeadGroupSpec.Template}
	for _, g := range s.WorkerGroupSpecs {
		templates = append(templates, g.Template)
	}
	var p []string
	for _, tpl := range templates {
		for _, c := range tpl.Spec.Containers {
			for _, msg := range rayContainerProblems(c, s.RayVersion) {
				p = append(p, "container "+c.Name+": "+msg)
			}
		}
	}
	return p
}

func loadRayCluster(t *testing.T) rayCluster {
	t.Helper()
	var rc rayCluster
	if err := readStrict(filepath.Join("..", "ray", "raycluster.yaml"), &rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// rayImage is a stock Ray image pinned to a Ray version and a Python version.
var rayImage = regexp.MustCompile(`^rayproject/ray:(\d+\.\d+\.\d+)-py3(\d+)$`)

// TestRayClusterRunsTheJob checks deploy/ray/raycluster.yaml: the Ray the tests run the job on
// (deploy/local/requirements.txt), a Python the job supports (>= 3.10) on every node, the
// dashboard reachable by the functions, and the vLLM API key taken from a Secret, the only place
// it may come from (never job metadata or env_vars).
func TestRayClusterRunsTheJob(t *testing.T) {
	t.Parallel()
	rc := loadRayCluster(t)
	if rc.APIVersion != "ray.io/v1" || rc.Kind != "RayCluster" {
		t.Fatalf("want a ray.io/v1 RayCluster, got %s %s", rc.APIVersion, rc.Kind)
	}
	reqs, err := os.ReadFile(filepath.Join("..", "local", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ray\[[a-z,]*default[a-z,]*\]==` + regexp.QuoteMeta(rc.Spec.RayVersion) + `$`).Match(reqs) {
		t.Errorf("rayVersion %s is not the Ray of deploy/local/requirements.txt", rc.Spec.RayVersion)
	}
	if rc.Spec.HeadGroupSpec.RayStartParams["dashboard-host"] != "0.0.0.0" {
		t.Error("the dashboard (Ray's Jobs API) must listen beyond the head pod")
	}
	for _, msg := range rc.Spec.containerProblems() {
		t.Error(msg)
	}
}

func rayContainerProblems(c corev1.Container, rayVersion string) []string {
	var p []string
	m := rayImage.FindStringSubmatch(c.Image)
	if m == nil {
		return append(p, "image "+c.Image+" pins no Ray and Python version")
	}
	if m[1] != rayVersion {
		p = append(p, "image "+c.Image+" is not Ray "+rayVersion)
	}
	if minor, _ := strconv.Atoi(m[2]); minor < 10 {
		p = append(p, "image "+c.Image+" has a Python older than 3.10")
	}
	var otlp *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			otlp = &c.Env[i]
		}
	}
	// The runner's and the job's spans go where the functions' go: the same settings key.
	if otlp == nil || otlp.ValueFrom == nil || otlp.ValueFrom.ConfigMapKeyRef == nil ||
		otlp.ValueFrom.ConfigMapKeyRef.Name != "ray-executor" || otlp.ValueFrom.ConfigMapKeyRef.Key != "OTEL_EXPORTER_OTLP_ENDPOINT" {
		p = append(p, "OTEL_EXPORTER_OTLP_ENDPOINT must come from the functions' settings ConfigMap (ray-executor)")
	}
	for _, name := range []string{"VLLM_API_KEY", "VLLM_API_KEYS"} {
		var key *corev1.EnvVar
		for i := range c.Env {
			if c.Env[i].Name == name {
				key = &c.Env[i]
			}
		}
		if key == nil || key.Value != "" || key.ValueFrom == nil || key.ValueFrom.SecretKeyRef == nil {
			p = append(p, name+" must come from a Secret")
		}
	}
	for _, e := range c.Env {
		// A file of keys is read from a mounted Secret, never written into the manifest.
		if e.Name == "VLLM_API_KEYS_FILE" && e.Value == "" {
			p = append(p, "VLLM_API_KEYS_FILE must name a file")
		}
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		p = append(p, "want a CPU request and a memory limit")
	}
	return p
}

func TestRayChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	rc := loadRayCluster(t)
	good := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0]
	for name, mutate := range map[string]func(c *corev1.Container){
		"Python 3.9":            func(c *corev1.Container) { c.Image = "rayproject/ray:" + rc.Spec.RayVersion + "-py39" },
		"floating tag":          func(c *corev1.Container) { c.Image = "rayproject/ray:latest" },
		"another Ray":           func(c *corev1.Container) { c.Image = "rayproject/ray:2.9.0-py311" },
		"API key in plain text": func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "VLLM_API_KEY", Value: "sk-123"}} },
		"no tracing endpoint": func(c *corev1.Container) {
			c.Env = slices.DeleteFunc(slices.Clone(c.Env), func(e corev1.EnvVar) bool { return e.Name == "OTEL_EXPORTER_OTLP_ENDPOINT" })
		},
		"a tracing endpoint of its own": func(c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
					c.Env[i] = corev1.EnvVar{Name: c.Env[i].Name, Value: "http://elsewhere:4318"}
				}
			}
		},
		"API keys in plain text": func(c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == "VLLM_API_KEYS" {
					c.Env[i] = corev1.EnvVar{Name: "VLLM_API_KEYS", Value: "http://vllm:8000=sk-123"}
				}
			}
		},
	} {
		c := *good.DeepCopy()
		mutate(&c)
		if len(rayContainerProblems(c, rc.Spec.RayVersion)) == 0 {
			t.Errorf("%s: the check found nothing wrong", name)
		}
	}
}
