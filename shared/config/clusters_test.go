package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const redisOnly = "redis://127.0.0.1:6379/0"

// loadProblems loads vars (with a REDIS_URL) and returns the problems, variable: message.
func loadProblems(t *testing.T, vars map[string]string, opts Options) (Config, []string) {
	t.Helper()
	if _, ok := vars["REDIS_URL"]; !ok {
		vars["REDIS_URL"] = redisOnly
	}
	c, err := Load(env(vars), opts)
	var cerr *Error
	if err != nil && !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	var got []string
	if cerr != nil {
		for _, p := range cerr.Problems {
			got = append(got, p.String())
		}
	}
	return c, got
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// twoClusters is a list of two clusters, their tokens from a variable and from a mounted file.
func twoClusters(t *testing.T) string {
	return `[{"name": "ray-1", "address": "http://ray-1:8265/", "token_env": "RAY_1_TOKEN", "pools": ["default", "gpu"], "capacity": 4},
	         {"name": "ray-2", "address": "https://ray-2.example", "token_file": "` + writeFile(t, "token", "tok-2\n") + `", "draining": true}]`
}

func checkTwoClusters(t *testing.T, c Config) {
	t.Helper()
	want := []RayCluster{
		{Name: "ray-1", Address: "http://ray-1:8265", TokenEnv: "RAY_1_TOKEN", Token: "tok-1", Pools: []string{"default", "gpu"}, Capacity: 4},
		{Name: "ray-2", Address: "https://ray-2.example", Token: "tok-2", Pools: []string{"default"}, Capacity: 1, Draining: true},
	}
	if len(c.Ray.Clusters) != 2 {
		t.Fatalf("clusters = %+v", c.Ray.Clusters)
	}
	for i, w := range want {
		got := c.Ray.Clusters[i]
		w.TokenFile = got.TokenFile
		if got.Name != w.Name || got.Address != w.Address || got.TokenEnv != w.TokenEnv || got.Token != w.Token ||
			!slices.Equal(got.Pools, w.Pools) || got.Capacity != w.Capacity || got.Draining != w.Draining {
			t.Errorf("cluster %d = %+v, want %+v", i, got, w)
		}
	}
	if c.Ray.Address != "http://ray-1:8265" || c.Ray.AuthToken != "tok-1" {
		t.Errorf("RAY_ADDRESS/RAY_AUTH_TOKEN stand-ins = %q, %q; want the first cluster's", c.Ray.Address, c.Ray.AuthToken)
	}
	if got := c.Ray.Pools(); !slices.Equal(got, []string{"default", "gpu"}) {
		t.Errorf("pools = %v", got)
	}
	if !c.Ray.Clusters[0].Serves("gpu") || c.Ray.Clusters[1].Serves("gpu") {
		t.Error("Serves disagrees with the list")
	}
}

func TestClustersFromTheVariableAndTheFile(t *testing.T) {
	t.Parallel()
	list := twoClusters(t)
	for _, vars := range []map[string]string{
		{"RAY_CLUSTERS": list},
		{"RAY_CLUSTERS_FILE": writeFile(t, "clusters.json", list)},
	} {
		vars["RAY_1_TOKEN"], vars["RAY_DISPATCH"] = " tok-1 ", "jobs"
		vars["RAY_POOL_MODELS"] = `{"gpu": ["big"]}`
		c, problems := loadProblems(t, vars, Options{NeedsRay: true})
		if len(problems) > 0 {
			t.Fatalf("problems: %v", problems)
		}
		checkTwoClusters(t, c)
		if !slices.Equal(c.Ray.PoolModels["gpu"], []string{"big"}) {
			t.Errorf("pool models = %v", c.Ray.PoolModels)
		}
	}
}

func TestOneClusterOfRayAddress(t *testing.T) {
	t.Parallel()
	c, problems := loadProblems(t, map[string]string{"RAY_ADDRESS": "http://ray:8265", "RAY_AUTH_TOKEN": "tok", "RAY_CLUSTER_NAME": "blue"}, Options{NeedsRay: true})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := RayCluster{Name: "blue", Address: "http://ray:8265", Token: "tok", Pools: []string{"default"}, Capacity: 1}
	if len(c.Ray.Clusters) != 1 || c.Ray.Clusters[0].Name != want.Name || c.Ray.Clusters[0].Address != want.Address ||
		c.Ray.Clusters[0].Token != want.Token || !slices.Equal(c.Ray.Clusters[0].Pools, want.Pools) || c.Ray.Clusters[0].Capacity != 1 {
		t.Errorf("clusters = %+v, want [%+v]", c.Ray.Clusters, want)
	}
	// Nothing set: still one cluster, named default (the serve dispatch needs no address).
	c, problems = loadProblems(t, map[string]string{}, Options{NeedsRay: true})
	if len(problems) > 0 || len(c.Ray.Clusters) != 1 || c.Ray.Clusters[0].Name != DefaultPool || c.Ray.Clusters[0].Address != "" {
		t.Errorf("clusters = %+v, problems %v; want the one cluster default", c.Ray.Clusters, problems)
	}
}

// TestClusterProblems: each mistake in the list is refused at start with a message naming the
// cluster and the field; the list is read whole, so every problem is reported at once.
func TestClusterProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		vars map[string]string
		opts Options
		want []string
	}{
		{"both list variables", map[string]string{"RAY_CLUSTERS": `[{"name": "a"}]`, "RAY_CLUSTERS_FILE": writeFile(t, "c.json", `[{"name": "b"}]`)}, Options{},
			[]string{"RAY_CLUSTERS_FILE: and RAY_CLUSTERS are both set: give one"}},
		{"a list and RAY_ADDRESS", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "address": "http://a:8265"}]`, "RAY_ADDRESS": "http://ray:8265"}, Options{},
			[]string{"RAY_CLUSTERS: and RAY_ADDRESS are both set: RAY_ADDRESS is the one-cluster shorthand, list the cluster instead"}},
		{"duplicate and bad names", map[string]string{"RAY_CLUSTERS": `[{"name": "a"}, {"name": "a"}, {"name": "Blue Green"}, {"name": "` + strings.Repeat("x", 33) + `"}]`}, Options{},
			[]string{`RAY_CLUSTERS: cluster a: name is listed twice; cluster 3: name "Blue Green" must be lower-case letters, digits and '-', at most 32; cluster 4: name "` + strings.Repeat("x", 33) + `" must be lower-case letters, digits and '-', at most 32`}},
		{"bad fields", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "address": "ftp://a", "pools": ["GPU"], "capacity": -1, "token_env": "T", "token_file": "/t"}]`}, Options{},
			[]string{`RAY_CLUSTERS: cluster a: address must be an http:// or https:// URL; cluster a: capacity must be between 1 and 1048576, got -1; cluster a: pool "GPU" must be lower-case letters, digits and '-', at most 32; cluster a: give token_env or token_file, not both`}},
		{"unknown field", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "adress": "http://a"}]`}, Options{},
			[]string{`RAY_CLUSTERS: must be a JSON array of clusters {name, address, token_env, token_file, pools, capacity, draining}: json: unknown field "adress"`}},
		{"empty list", map[string]string{"RAY_CLUSTERS": `[]`}, Options{}, []string{"RAY_CLUSTERS: lists no cluster"}},
		{"unreadable file", map[string]string{"RAY_CLUSTERS_FILE": "/nonexistent/clusters.json"}, Options{},
			[]string{"RAY_CLUSTERS_FILE: cannot be read: /nonexistent/clusters.json: no such file or directory"}},
		{"tokens not found", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "token_env": "NOT_SET"}, {"name": "b", "token_file": "/nonexistent/token"}]`}, Options{},
			[]string{"RAY_CLUSTERS: cluster a: token_env names NOT_SET, which is empty", "RAY_CLUSTERS: cluster b: token_file cannot be read: /nonexistent/token: no such file or directory"}},
		{"a token with a space", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "token_env": "TOK"}]`, "TOK": "two words"}, Options{},
			[]string{"RAY_CLUSTERS: cluster a: the token in TOK must be printable ASCII without spaces"}},
		{"a token file with a space", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "token_file": "` + writeFile(t, "tok", "two words\n") + `"}]`}, Options{},
			[]string{"RAY_CLUSTERS: cluster a: the token in token_file must be printable ASCII without spaces"}},
		{"pool models name an unserved pool", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "pools": ["cpu"]}]`, "RAY_POOL_MODELS": `{"gpu": ["big"], "cpu": ["small"]}`}, Options{},
			[]string{`RAY_POOL_MODELS: names pool "gpu", which no cluster serves`}},
		{"pool models of the shorthand's cluster", map[string]string{"RAY_POOL_MODELS": `{"gpu": ["big"]}`}, Options{},
			[]string{`RAY_POOL_MODELS: names pool "gpu", which no cluster serves`}},
		{"a model in two pools", map[string]string{"RAY_CLUSTERS": `[{"name": "a", "pools": ["cpu", "gpu"]}]`, "RAY_POOL_MODELS": `{"gpu": ["big", "m"], "cpu": ["m"]}`}, Options{},
			[]string{`RAY_POOL_MODELS: puts model "m" in two pools`}},
		{"jobs dispatch needs every address", map[string]string{"RAY_DISPATCH": "jobs", "RAY_CLUSTERS": `[{"name": "a", "address": "http://a:8265"}, {"name": "b"}]`}, Options{NeedsRay: true},
			[]string{"RAY_CLUSTERS: cluster b has no address, which the jobs dispatch needs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := loadProblems(t, tc.vars, tc.opts)
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// Where nothing talks to the dashboards, a cluster needs no address: the serve dispatch without
// a runner deploy, a function without Ray, the local stack.
func TestClusterWithoutAddressElsewhere(t *testing.T) {
	t.Parallel()
	list := `[{"name": "a"}, {"name": "b", "pools": ["gpu"]}]`
	for _, tc := range []struct {
		vars map[string]string
		opts Options
	}{
		{map[string]string{"RAY_CLUSTERS": list}, Options{NeedsRay: true}},
		{map[string]string{"RAY_CLUSTERS": list, "RAY_DISPATCH": "jobs"}, Options{}},
		{map[string]string{"RAY_CLUSTERS": list, "RAY_DISPATCH": "jobs", "REDIS_URL": ""}, Options{NeedsRay: true, Local: true}},
	} {
		c, problems := loadProblems(t, tc.vars, tc.opts)
		if len(problems) > 0 || len(c.Ray.Clusters) != 2 || c.Ray.Address != "" {
			t.Errorf("%v %+v: problems %v, clusters %+v", tc.vars, tc.opts, problems, c.Ray.Clusters)
		}
	}
}

// The tokens a list points to are never echoed, neither in problems nor in the start-up line.
func TestClusterTokensNeverEchoed(t *testing.T) {
	t.Parallel()
	const secret = "hunter2hunter2"
	_, problems := loadProblems(t, map[string]string{"RAY_CLUSTERS": `[{"name": "a", "token_env": "TOK"}]`, "TOK": secret + " x"}, Options{})
	if len(problems) != 1 || strings.Contains(problems[0], secret) {
		t.Errorf("problems %v: want one, without the token", problems)
	}
	c, problems := loadProblems(t, map[string]string{"RAY_CLUSTERS": `[{"name": "a", "token_env": "TOK", "address": "http://a:8265"}]`, "TOK": secret}, Options{})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var buf strings.Builder
	c.Logger(&buf).Info("configuration", "config", c)
	if strings.Contains(buf.String(), secret) {
		t.Errorf("log line leaks a cluster's token: %s", buf.String())
	}
	if want := `"ray_clusters":["a http://a:8265 pools=default capacity=1 token=set"]`; !strings.Contains(buf.String(), want) {
		t.Errorf("log line lacks %s: %s", want, buf.String())
	}
}
