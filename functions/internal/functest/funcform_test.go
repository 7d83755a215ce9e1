package functest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"
)

// funcFile is func.yaml as func (knative func v1.23, specVersion 0.36.0) reads and writes it: the
// fields this project uses, declared in the order func declares them, with func's YAML names and
// omitempty rules. func writes a function with gopkg.in/yaml.v2, whose encoder go.yaml.in/yaml/v2
// continues: marshalling this struct gives the bytes `func build` or `func deploy` would write.
// Reading is strict, so a field this mirror lacks fails the test instead of being dropped.
type funcFile struct {
	SpecVersion      string        `yaml:"specVersion"`
	Name             string        `yaml:"name,omitempty"`
	Domain           string        `yaml:"domain,omitempty"`
	Runtime          string        `yaml:"runtime,omitempty"`
	Registry         string        `yaml:"registry,omitempty"`
	RegistryInsecure bool          `yaml:"registryInsecure,omitempty"`
	Image            string        `yaml:"image,omitempty"`
	Namespace        string        `yaml:"namespace,omitempty"`
	Deployer         string        `yaml:"deployer,omitempty"`
	Created          time.Time     `yaml:"created"`
	Invoke           string        `yaml:"invoke,omitempty"`
	Build            funcBuildSpec `yaml:"build,omitempty"`
	Run              funcRunSpec   `yaml:"run,omitempty"`
	Deploy           funcDeploy    `yaml:"deploy,omitempty"`
}

type funcBuildSpec struct {
	BuilderImages      map[string]string `yaml:"builderImages,omitempty"`
	Buildpacks         []string          `yaml:"buildpacks,omitempty"`
	Builder            string            `yaml:"builder,omitempty"`
	BuildEnvs          []funcEnv         `yaml:"buildEnvs,omitempty"`
	PVCSize            string            `yaml:"pvcSize,omitempty"`
	RemoteStorageClass string            `yaml:"remoteStorageClass,omitempty"`
	BaseImage          string            `yaml:"baseImage,omitempty"`
}

type funcRunSpec struct {
	Envs         []funcEnv     `yaml:"envs,omitempty"`
	StartTimeout time.Duration `yaml:"startTimeout,omitempty"`
}

type funcEnv struct {
	Name  *string `yaml:"name,omitempty"`
	Value *string `yaml:"value,omitempty"`
}

type funcDeploy struct {
	Namespace          string            `yaml:"namespace,omitempty"`
	Image              string            `yaml:"image,omitempty"`
	Annotations        map[string]string `yaml:"annotations,omitempty"`
	Options            funcOptions       `yaml:"options,omitempty"`
	Labels             []funcLabel       `yaml:"labels,omitempty"`
	HealthEndpoints    funcHealth        `yaml:"healthEndpoints,omitempty"`
	ServiceAccountName string            `yaml:"serviceAccountName,omitempty"`
	ImagePullSecret    string            `yaml:"imagePullSecret,omitempty"`
	Deployer           string            `yaml:"deployer,omitempty"`
}

type funcOptions struct {
	Scale     *funcScale     `yaml:"scale,omitempty"`
	Resources *funcResources `yaml:"resources,omitempty"`
}

type funcScale struct {
	Min         *int64   `yaml:"min,omitempty"`
	Max         *int64   `yaml:"max,omitempty"`
	Metric      *string  `yaml:"metric,omitempty"`
	Target      *float64 `yaml:"target,omitempty"`
	Utilization *float64 `yaml:"utilization,omitempty"`
}

type funcResources struct {
	Requests *struct {
		CPU    *string `yaml:"cpu,omitempty"`
		Memory *string `yaml:"memory,omitempty"`
	} `yaml:"requests,omitempty"`
	Limits *struct {
		CPU         *string `yaml:"cpu,omitempty"`
		Memory      *string `yaml:"memory,omitempty"`
		Concurrency *int64  `yaml:"concurrency,omitempty"`
	} `yaml:"limits,omitempty"`
}

type funcLabel struct {
	Key   *string `yaml:"key"`
	Value *string `yaml:"value,omitempty"`
}

type funcHealth struct {
	Liveness  string `yaml:"liveness,omitempty"`
	Readiness string `yaml:"readiness,omitempty"`
}

// funcRelease is the func CLI whose form the func.yaml files are kept in: func writes the URL of
// its own release's schema in the first two lines of every func.yaml it writes.
const funcRelease = "release-1.23"

// schemaHeader is those two lines as func writes them.
func schemaHeader(release string) string {
	uri := "https://raw.githubusercontent.com/knative/func/" + release + "/schema/func_yaml-schema.json"
	return "# $schema: " + uri + "\n# yaml-language-server: $schema=" + uri + "\n"
}

// repoRoot is the repository root, seen from this package's directory (where go test runs it).
var repoRoot = filepath.Join("..", "..", "..")

// funcYAMLFiles are the root func.yaml and the four functions'.
func funcYAMLFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(repoRoot, "func.yaml"))
	if len(files) != 5 {
		t.Fatalf("want the root func.yaml and four functions', found %v", files)
	}
	return files
}

// writtenByFunc returns raw as func would write it back, or an error when func could not read it
// (a field this mirror, and so func 0.36.0, does not know).
func writtenByFunc(raw []byte) ([]byte, error) {
	var f funcFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(&f)
	if err != nil {
		return nil, err
	}
	return append([]byte(schemaHeader(funcRelease)), out...), nil
}

// TestFuncYAMLIsWhatFuncWrites keeps every func.yaml byte for byte in the form func writes it
// (schema header, field order, list indentation, quoting; no comments of our own), so a `func build`
// or `func deploy` that writes the file back leaves no diff beyond what it records on purpose
// (deploy.namespace, deploy.image, ...). Their documentation lives in docs/deploy.md.
func TestFuncYAMLIsWhatFuncWrites(t *testing.T) {
	t.Parallel()
	for _, path := range funcYAMLFiles(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := writtenByFunc(raw)
		if err != nil {
			t.Errorf("%s: func could not read it: %v", path, err)
			continue
		}
		if !bytes.Equal(raw, want) {
			t.Errorf("%s is not in the form func writes; func would write:\n%s", path, want)
		}
	}
}

// TestFuncFormCatchesMistakes proves the comparison above can fail.
func TestFuncFormCatchesMistakes(t *testing.T) {
	t.Parallel()
	good := schemaHeader(funcRelease) + "specVersion: 0.36.0\nname: x\ncreated: 2026-11-26T00:00:00Z\n" +
		"run:\n  envs:\n  - name: A\n    value: '{{ configMap:c:A }}'\n"
	if got, err := writtenByFunc([]byte(good)); err != nil || string(got) != good {
		t.Fatalf("the form func writes was refused (%v):\n%s", err, got)
	}
	for name, bad := range map[string]string{
		"a comment of our own":        good + "# note\n",
		"no schema header":            good[len(schemaHeader(funcRelease)):],
		"fields out of func's order":  schemaHeader(funcRelease) + "name: x\nspecVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\n",
		"an indented list":            schemaHeader(funcRelease) + "specVersion: 0.36.0\nname: x\ncreated: 2026-11-26T00:00:00Z\nrun:\n  envs:\n    - name: A\n      value: b\n",
		"double quotes":               schemaHeader(funcRelease) + "specVersion: 0.36.0\nname: x\ncreated: 2026-11-26T00:00:00Z\nrun:\n  envs:\n  - name: A\n    value: \"[::]:8080\"\n",
		"another release's header":    schemaHeader("release-1.22") + good[len(schemaHeader(funcRelease)):],
		"a field func does not know":  good + "labels: []\n",
		"labels before options":       schemaHeader(funcRelease) + "specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\ndeploy:\n  labels:\n  - key: a\n    value: b\n  options:\n    scale:\n      min: 0\n",
		"a build section out of form": schemaHeader(funcRelease) + "specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nbuild:\n  buildEnvs:\n  - name: GOFLAGS\n    value: -mod=mod\n  builder: host\n",
	} {
		got, err := writtenByFunc([]byte(bad))
		if err == nil && string(got) == bad {
			t.Errorf("%s: accepted\n%s", name, bad)
		}
	}
}
