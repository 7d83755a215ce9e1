package functest

import (
	"bytes"
	_ "embed"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/rayexecutor/functions/shared/config"
)

// schema is func's own schema of func.yaml (specVersion 0.36.0), kept beside the test so it runs
// from a bare clone.
//
//go:embed func_yaml-schema.json
var schema []byte

// TestEveryFuncYAML validates the root func.yaml and each function's against func's schema, and
// checks that they set only variables the configuration reads.
func TestEveryFuncYAML(t *testing.T) {
	t.Parallel()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("func_yaml-schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("func_yaml-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "..")
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "func.yaml"))
	if len(files) != 5 {
		t.Fatalf("want the root func.yaml and four functions', found %v", files)
	}
	for _, path := range files {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			asJSON, err := yaml.YAMLToJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(hostBuilderAccepted(inst)); err != nil {
				t.Errorf("%s does not match func's schema: %v", path, err)
			}
			var f struct {
				SpecVersion string `json:"specVersion"`
				Run         struct {
					Envs []struct{ Name string } `json:"envs"`
				} `json:"run"`
			}
			if err := yaml.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f.SpecVersion != "0.36.0" {
				t.Errorf("specVersion %q, want 0.36.0", f.SpecVersion)
			}
			for _, e := range f.Run.Envs {
				// LISTEN_ADDRESS is read by func-go's runtime, every other variable by shared/config.
				if e.Name != "LISTEN_ADDRESS" && !slices.Contains(config.Variables(), e.Name) {
					t.Errorf("%s sets %s, which no code reads", path, e.Name)
				}
			}
		})
	}
}

// hostBuilderAccepted returns the document to validate against func's schema. func's schema lags
// its CLI: its build.builder enum lists pack and s2i only, yet `func build --builder=host` writes
// `builder: host` (the host builder is one of the three func knows), and func reads it back. A
// func.yaml that records the host builder is therefore checked with that one value set aside;
// any other builder still goes through the schema's enum.
func hostBuilderAccepted(inst any) any {
	doc, _ := inst.(map[string]any)
	build, _ := doc["build"].(map[string]any)
	if build["builder"] != "host" {
		return inst
	}
	copied := maps.Clone(build)
	delete(copied, "builder")
	out := maps.Clone(doc)
	out["build"] = copied
	return out
}

// TestSchemaCatchesMistakes proves the validation above can fail.
func TestSchemaCatchesMistakes(t *testing.T) {
	t.Parallel()
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	_ = c.AddResource("func_yaml-schema.json", doc)
	sch, err := c.Compile("func_yaml-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"specVersion: 0.36.0\nname: x\n",                                                  // created is required
		"specVersion: 0.36.0\ncreated: yesterday\n",                                       // not a date-time
		"specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nname: Bad_Name\n",            // name pattern
		"specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nrun:\n  env: []\n",           // unknown key
		"specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nbuild:\n  builder: docker\n", // no such builder
		// the host builder is set aside, nothing else
		"specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nbuild:\n  builder: host\n  buildEnvs: {}\n",
	} {
		if sch.Validate(hostBuilderAccepted(yamlDoc(t, bad))) == nil {
			t.Errorf("schema accepted %q", bad)
		}
	}
	host := "specVersion: 0.36.0\ncreated: 2026-11-26T00:00:00Z\nbuild:\n  builder: host\n"
	if err := sch.Validate(hostBuilderAccepted(yamlDoc(t, host))); err != nil {
		t.Errorf("the host builder func writes was refused: %v", err)
	}
}

// yamlDoc is a YAML document as the JSON schema validator takes it.
func yamlDoc(t *testing.T, doc string) any {
	t.Helper()
	asJSON, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}
