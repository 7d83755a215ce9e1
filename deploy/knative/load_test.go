package knative

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// The two deployments this folder offers: the four functions (kubectl apply -k .) and the combined
// function (kubectl apply -k combined).
const (
	perFunction = "."
	combined    = "combined"
)

// kustomization is the part of kustomize's format these folders use. It is decoded strictly, so a
// field added to a kustomization.yaml without this test learning about it fails loudly instead of
// going unchecked.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
	Patches []struct {
		Target struct {
			Group string `json:"group,omitempty"`
			Kind  string `json:"kind,omitempty"`
			Name  string `json:"name,omitempty"`
		} `json:"target"`
		Patch string `json:"patch"`
	} `json:"patches"`
}

// deployment is what `kubectl apply -k dir` would create, decoded into Knative's and Kubernetes'
// own Go types.
type deployment struct {
	namespace  string
	files      []string
	services   []*servingv1.Service
	brokers    []*eventingv1.Broker
	triggers   []*eventingv1.Trigger
	pings      []*sourcesv1.PingSource
	configMaps []*corev1.ConfigMap
	secrets    []*corev1.Secret
	k8sSvcs    []*corev1.Service
	sets       []*appsv1.StatefulSet
	policies   []*networkingv1.NetworkPolicy
}

// kinds maps apiVersion/kind to the Go type a document decodes into. A kind missing here fails the
// test, so no manifest is applied without being checked.
var kinds = map[string]func() any{
	"serving.knative.dev/v1/Service":     func() any { return &servingv1.Service{} },
	"eventing.knative.dev/v1/Broker":     func() any { return &eventingv1.Broker{} },
	"eventing.knative.dev/v1/Trigger":    func() any { return &eventingv1.Trigger{} },
	"sources.knative.dev/v1/PingSource":  func() any { return &sourcesv1.PingSource{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
}

// load reads the kustomization in dir and every manifest it names (folders through their own
// kustomization), applies its JSON patches and namespace as kustomize does, and decodes each
// document strictly into its type: an unknown or misspelt field is an error.
func load(t *testing.T, dir string) deployment {
	t.Helper()
	d, err := loadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// patch is a JSON patch of a kustomization with the resources it applies to.
type patch struct {
	group, kind string
	name        *regexp.Regexp
	ops         jsonpatch.Patch
}

func loadDir(dir string, outer []patch) (deployment, error) {
	var k kustomization
	if err := readStrict(filepath.Join(dir, "kustomization.yaml"), &k); err != nil {
		return deployment{}, err
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace == "" {
		return deployment{}, fmt.Errorf("%s: want a kustomize.config.k8s.io/v1beta1 Kustomization with a namespace", dir)
	}
	patches, err := compilePatches(k)
	if err != nil {
		return deployment{}, fmt.Errorf("%s: %w", dir, err)
	}
	// Inner patches apply first, then the ones of the kustomization that includes this one.
	patches = append(patches, outer...)
	d := deployment{namespace: k.Namespace}
	for _, res := range k.Resources {
		path := filepath.Join(dir, res)
		info, err := os.Stat(path)
		if err != nil {
			return deployment{}, err
		}
		if info.IsDir() {
			sub, err := loadDir(path, patches)
			if err != nil {
				return deployment{}, err
			}
			d.merge(sub)
			continue
		}
		if err := d.addFile(path, patches); err != nil {
			return deployment{}, err
		}
	}
	d.setNamespace(k.Namespace)
	return d, nil
}

func compilePatches(k kustomization) ([]patch, error) {
	var out []patch
	for _, p := range k.Patches {
		asJSON, err := yaml.YAMLToJSON([]byte(p.Patch))
		if err != nil {
			return nil, err
		}
		ops, err := jsonpatch.DecodePatch(asJSON)
		if err != nil {
			return nil, fmt.Errorf("only JSON patches are checked here: %w", err)
		}
		name := p.Target.Name
		if name == "" {
			name = ".*"
		}
		re, err := regexp.Compile("^(?:" + name + ")$")
		if err != nil {
			return nil, err
		}
		out = append(out, patch{group: p.Target.Group, kind: p.Target.Kind, name: re, ops: ops})
	}
	return out, nil
}

func (d *deployment) addFile(path string, patches []patch) error {
	d.files = append(d.files, path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		if err := d.addDoc(doc, patches); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

func (d *deployment) addDoc(doc []byte, patches []patch) error {
	asJSON, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(asJSON, &meta); err != nil {
		return err
	}
	group, _, grouped := strings.Cut(meta.APIVersion, "/")
	if !grouped {
		group = "" // the core group: apiVersion v1
	}
	for _, p := range patches {
		if (p.group == "" || p.group == group) && (p.kind == "" || p.kind == meta.Kind) && p.name.MatchString(meta.Metadata.Name) {
			if asJSON, err = p.ops.Apply(asJSON); err != nil {
				return fmt.Errorf("patching %s %s: %w", meta.Kind, meta.Metadata.Name, err)
			}
		}
	}
	newObj, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		return fmt.Errorf("%s %s: no Go type to check it with", meta.APIVersion, meta.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(asJSON, obj); err != nil {
		return fmt.Errorf("%s %s: %w", meta.Kind, meta.Metadata.Name, err)
	}
	switch o := obj.(type) {
	case *servingv1.Service:
		d.services = append(d.services, o)
	case *eventingv1.Broker:
		d.brokers = append(d.brokers, o)
	case *eventingv1.Trigger:
		d.triggers = append(d.triggers, o)
	case *sourcesv1.PingSource:
		d.pings = append(d.pings, o)
	case *corev1.ConfigMap:
		d.configMaps = append(d.configMaps, o)
	case *corev1.Secret:
		d.secrets = append(d.secrets, o)
	case *corev1.Service:
		d.k8sSvcs = append(d.k8sSvcs, o)
	case *appsv1.StatefulSet:
		d.sets = append(d.sets, o)
	case *networkingv1.NetworkPolicy:
		d.policies = append(d.policies, o)
	}
	return nil
}

func (d *deployment) merge(o deployment) {
	d.files = append(d.files, o.files...)
	d.services = append(d.services, o.services...)
	d.brokers = append(d.brokers, o.brokers...)
	d.triggers = append(d.triggers, o.triggers...)
	d.pings = append(d.pings, o.pings...)
	d.configMaps = append(d.configMaps, o.configMaps...)
	d.secrets = append(d.secrets, o.secrets...)
	d.k8sSvcs = append(d.k8sSvcs, o.k8sSvcs...)
	d.sets = append(d.sets, o.sets...)
	d.policies = append(d.policies, o.policies...)
}

// setNamespace does what kustomize's namespace field does to the namespaced objects checked here.
func (d *deployment) setNamespace(ns string) {
	for _, o := range d.services {
		o.Namespace = ns
	}
	for _, o := range d.brokers {
		o.Namespace = ns
	}
	for _, o := range d.triggers {
		o.Namespace = ns
	}
	for _, o := range d.pings {
		o.Namespace = ns
	}
	for _, o := range d.configMaps {
		o.Namespace = ns
	}
	for _, o := range d.secrets {
		o.Namespace = ns
	}
	for _, o := range d.k8sSvcs {
		o.Namespace = ns
	}
	for _, o := range d.sets {
		o.Namespace = ns
	}
}

func (d deployment) service(name string) *servingv1.Service {
	i := slices.IndexFunc(d.services, func(s *servingv1.Service) bool { return s.Name == name })
	if i < 0 {
		return nil
	}
	return d.services[i]
}

// readStrict decodes one YAML file into v, refusing unknown fields.
func readStrict(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readLoose decodes one YAML file into v, ignoring fields v does not have.
func readLoose(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

// stripComments tells a document of comments only (a file's header before its first ---) from
// one with content.
func stripComments(doc []byte) []byte { return commentLine.ReplaceAll(doc, nil) }

// TestKustomizationsListEveryManifest guards against a manifest that is in the folder but not in
// the kustomization: it would be neither applied nor validated.
func TestKustomizationsListEveryManifest(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, dir := range []string{perFunction, combined} {
		for _, f := range load(t, dir).files {
			seen[filepath.Clean(f)] = true
		}
	}
	all, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"base", combined} {
		more, err := filepath.Glob(filepath.Join(sub, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, more...)
	}
	for _, f := range all {
		if filepath.Base(f) != "kustomization.yaml" && !seen[filepath.Clean(f)] {
			t.Errorf("%s is in no kustomization", f)
		}
	}
}

// TestLoaderRefusesWhatItCannotCheck proves the loader is strict: a misspelt field or a kind it
// has no type for fails instead of passing unchecked.
func TestLoaderRefusesWhatItCannotCheck(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\n" +
			"spec: {template: {spec: {containers: [{image: x, envv: []}]}}}\n",
		"unknown kind": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n",
	} {
		var d deployment
		if err := d.addDoc([]byte(doc), nil); err == nil {
			t.Errorf("%s: loaded without complaint", name)
		}
	}
}
