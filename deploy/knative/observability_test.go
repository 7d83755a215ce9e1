package knative

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// observabilityFile is Knative's tracing configuration, applied apart (not in the kustomization).
var observabilityFile = filepath.Join("observability", "config-observability.yaml")

func loadObservability(t *testing.T) []*corev1.ConfigMap {
	t.Helper()
	raw, err := os.ReadFile(observabilityFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.ConfigMap
	docs := utilyaml.NewDocumentDecoder(io.NopCloser(bytes.NewReader(raw)))
	buf := make([]byte, len(raw)+1)
	for {
		n, err := docs.Read(buf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict(buf[:n], &cm); err != nil {
			t.Fatalf("%s: %v", observabilityFile, err)
		}
		out = append(out, &cm)
	}
}

// observabilityProblems: one config-observability for Serving and one for Eventing, each sending
// OTLP spans to an http(s) traces URL at a sampling rate in [0, 1].
func observabilityProblems(cms []*corev1.ConfigMap) []string {
	var p []string
	seen := map[string]bool{}
	for _, cm := range cms {
		where := cm.Namespace + "/" + cm.Name
		if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" || cm.Name != "config-observability" {
			p = append(p, where+": want Knative's v1 ConfigMap config-observability")
		}
		seen[cm.Namespace] = true
		protocol := cm.Data["tracing-protocol"]
		if protocol != "http/protobuf" && protocol != "grpc" {
			p = append(p, where+": tracing-protocol "+protocol+" is not OTLP (http/protobuf or grpc)")
		}
		u, err := url.Parse(cm.Data["tracing-endpoint"])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(protocol == "http/protobuf" && u.Path != "/v1/traces") {
			p = append(p, where+": tracing-endpoint "+cm.Data["tracing-endpoint"]+" is not an OTLP traces URL")
		}
		rate, err := strconv.ParseFloat(cm.Data["tracing-sampling-rate"], 64)
		if err != nil || rate < 0 || rate > 1 {
			p = append(p, where+": tracing-sampling-rate "+cm.Data["tracing-sampling-rate"]+" is not in [0, 1]")
		}
	}
	for _, ns := range []string{"knative-serving", "knative-eventing"} {
		if !seen[ns] {
			p = append(p, "no config-observability in "+ns)
		}
	}
	return p
}

func TestKnativeTracingConfig(t *testing.T) {
	t.Parallel()
	for _, msg := range observabilityProblems(loadObservability(t)) {
		t.Error(msg)
	}
	// Optional: applying it replaces Knative's own ConfigMaps, so `apply -k` must not.
	for _, f := range load(t, perFunction).files {
		if filepath.Base(f) == filepath.Base(observabilityFile) {
			t.Errorf("%s is applied by the kustomization; it is meant to be applied apart", f)
		}
	}
}

func TestKnativeTracingChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(cms []*corev1.ConfigMap) []*corev1.ConfigMap{
		"zipkin": func(c []*corev1.ConfigMap) []*corev1.ConfigMap { c[0].Data["tracing-protocol"] = "zipkin"; return c },
		"no traces path": func(c []*corev1.ConfigMap) []*corev1.ConfigMap {
			c[0].Data["tracing-endpoint"] = "http://c:4318"
			return c
		},
		"rate above 1":       func(c []*corev1.ConfigMap) []*corev1.ConfigMap { c[1].Data["tracing-sampling-rate"] = "2"; return c },
		"eventing left out":  func(c []*corev1.ConfigMap) []*corev1.ConfigMap { return c[:1] },
		"another ConfigMap":  func(c []*corev1.ConfigMap) []*corev1.ConfigMap { c[0].Name = "config-tracing"; return c },
		"endpoint not a URL": func(c []*corev1.ConfigMap) []*corev1.ConfigMap { c[1].Data["tracing-endpoint"] = "collector"; return c },
	} {
		if len(observabilityProblems(mutate(loadObservability(t)))) == 0 {
			t.Errorf("%s: the check found nothing wrong", name)
		}
	}
}
