package config

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// DefaultPool is the pool of a request that names none and whose models map to no pool, and the
// pool of a cluster that lists none.
const DefaultPool = "default"

// RayCluster is one Ray cluster the functions send work to (RAY_CLUSTERS, RAY_CLUSTERS_FILE, or
// the one-cluster shorthand RAY_ADDRESS).
type RayCluster struct {
	// Name names the cluster in status answers, events, metrics and the runner's records.
	Name string `json:"name"`
	// Address is its dashboard URL (Jobs API, Serve deploys); empty only under Options.Local or in
	// the serve dispatch without RAY_SERVE_DEPLOY, where nothing talks to the dashboard.
	Address string `json:"address,omitempty"`
	// TokenEnv and TokenFile say where its Ray auth token is (an environment variable, a mounted
	// Secret's file); Token is what Load read there. The token itself never sits in the list.
	TokenEnv  string `json:"token_env,omitempty"`
	TokenFile string `json:"token_file,omitempty"`
	Token     string `json:"-"`
	// Pools are the pools whose queue its runner reads, and whose jobs it is given; default
	// [DefaultPool].
	Pools []string `json:"pools,omitempty"`
	// Capacity weighs it against the others in the jobs dispatch's router (default 1).
	Capacity int `json:"capacity,omitempty"`
	// Draining stops new work reaching it; what it runs finishes.
	Draining bool `json:"draining,omitempty"`
}

// Serves reports whether the cluster takes work of pool.
func (c RayCluster) Serves(pool string) bool { return slices.Contains(c.Pools, pool) }

// clusterName is a DNS label of at most 32 characters: it goes into Redis keys, metric labels and
// Kubernetes names.
var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$`)

// clusterSources are the cluster variables as parsed, settled by settleClusters after the loop.
type clusterSources struct {
	// from names the variable the list came from ("" for the RAY_ADDRESS shorthand).
	from       string
	list       []RayCluster
	name       string
	poolModels map[string][]string
}

func parseClustersVar(from string) func(c *Config, v string) string {
	return func(c *Config, v string) string {
		if v == "" {
			return ""
		}
		data := []byte(v)
		if from == "RAY_CLUSTERS_FILE" {
			var err error
			if data, err = os.ReadFile(v); err != nil {
				return "cannot be read: " + strings.TrimPrefix(err.Error(), "open ")
			}
		}
		if c.clusters.from != "" {
			return "and " + c.clusters.from + " are both set: give one"
		}
		list, problems := parseClusterList(data)
		if len(problems) > 0 {
			return strings.Join(problems, "; ")
		}
		c.clusters.from, c.clusters.list = from, list
		return ""
	}
}

func parseClusterName(v string, dst *string) string {
	if v != "" && !clusterName.MatchString(v) {
		return "must be lower-case letters, digits and '-', at most 32, got " + quoted(v)
	}
	*dst = v
	return ""
}

// parsePoolModels reads RAY_POOL_MODELS: {"pool": ["model", ...]}, no model in two pools.
func parsePoolModels(v string, dst *map[string][]string) string {
	if v == "" {
		return ""
	}
	var m map[string][]string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return "must be a JSON object of pool names to lists of model names: " + err.Error()
	}
	owner := map[string]string{}
	for pool, models := range m {
		if !clusterName.MatchString(pool) {
			return "names pool " + quoted(pool) + ": lower-case letters, digits and '-', at most 32"
		}
		for _, model := range models {
			if prev, ok := owner[model]; ok && prev != pool {
				return "puts model " + quoted(model) + " in two pools"
			}
			owner[model] = pool
		}
	}
	*dst = m
	return ""
}

// parseClusterList reads RAY_CLUSTERS or RAY_CLUSTERS_FILE's content: a JSON array of clusters.
func parseClusterList(data []byte) ([]RayCluster, []string) {
	var list []RayCluster
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, []string{"must be a JSON array of clusters {name, address, token_env, token_file, pools, capacity, draining}: " + err.Error()}
	}
	if len(list) == 0 {
		return nil, []string{"lists no cluster"}
	}
	var problems []string
	seen := map[string]bool{}
	for i := range list {
		c := &list[i]
		at := fmt.Sprintf("cluster %d", i+1)
		if !clusterName.MatchString(c.Name) {
			problems = append(problems, fmt.Sprintf("%s: name %s must be lower-case letters, digits and '-', at most 32", at, quoted(c.Name)))
		} else {
			at = "cluster " + c.Name
		}
		if seen[c.Name] {
			problems = append(problems, at+": name is listed twice")
		}
		seen[c.Name] = true
		if msg := parseHTTPURL(c.Address, &c.Address); msg != "" {
			problems = append(problems, at+": address "+msg)
		}
		if c.Capacity < 0 || c.Capacity > 1<<20 {
			problems = append(problems, fmt.Sprintf("%s: capacity must be between 1 and %d, got %d", at, 1<<20, c.Capacity))
		}
		if c.Capacity == 0 {
			c.Capacity = 1
		}
		if len(c.Pools) == 0 {
			c.Pools = []string{DefaultPool}
		}
		for _, p := range c.Pools {
			if !clusterName.MatchString(p) {
				problems = append(problems, fmt.Sprintf("%s: pool %s must be lower-case letters, digits and '-', at most 32", at, quoted(p)))
			}
		}
		if c.TokenEnv != "" && c.TokenFile != "" {
			problems = append(problems, at+": give token_env or token_file, not both")
		}
	}
	return list, problems
}

// readClusterToken reads a cluster's token from the variable or file it names.
func readClusterToken(c *RayCluster, getenv func(string) string) string {
	switch {
	case c.TokenEnv != "":
		v := trimmed(getenv(c.TokenEnv))
		if v == "" {
			return "token_env names " + c.TokenEnv + ", which is empty"
		}
		if msg := parseToken(v, &c.Token); msg != "" {
			return "the token in " + c.TokenEnv + " " + msg
		}
		return ""
	case c.TokenFile != "":
		data, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "token_file cannot be read: " + strings.TrimPrefix(err.Error(), "open ")
		}
		if msg := parseToken(strings.TrimSpace(string(data)), &c.Token); msg != "" {
			return "the token in token_file " + msg
		}
		return ""
	}
	return ""
}

// settleClusters turns the cluster variables (or the RAY_ADDRESS shorthand) into c.Ray.Clusters
// and reads the listed clusters' tokens, once RAY_ADDRESS and RAY_AUTH_TOKEN are read.
func settleClusters(c *Config, src clusterSources, getenv func(string) string, errs *Error) {
	list := src.list
	switch {
	case src.from != "" && c.Ray.Address != "":
		errs.add(src.from, "and RAY_ADDRESS are both set: RAY_ADDRESS is the one-cluster shorthand, list the cluster instead")
		return
	case src.from != "":
		for i := range list {
			if msg := readClusterToken(&list[i], getenv); msg != "" {
				errs.add(src.from, "cluster "+list[i].Name+": "+msg)
			}
		}
	case !errs.has("RAY_CLUSTERS") && !errs.has("RAY_CLUSTERS_FILE"):
		name := src.name
		if name == "" {
			name = DefaultPool
		}
		list = []RayCluster{{Name: name, Address: c.Ray.Address, Token: c.Ray.AuthToken, Pools: []string{DefaultPool}, Capacity: 1}}
	}
	c.Ray.Clusters = list
	if c.Ray.Address == "" && len(list) > 0 {
		c.Ray.Address, c.Ray.AuthToken = list[0].Address, list[0].Token
	}
	for pool := range src.poolModels {
		if len(list) > 0 && !slices.ContainsFunc(list, func(rc RayCluster) bool { return rc.Serves(pool) }) {
			errs.add("RAY_POOL_MODELS", "names pool "+quoted(pool)+", which no cluster serves")
		}
	}
	c.Ray.PoolModels = src.poolModels
}

// Pools lists every pool some cluster serves, sorted.
func (r Ray) Pools() []string {
	var out []string
	for _, c := range r.Clusters {
		for _, p := range c.Pools {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkClusterAddresses requires an address of every listed cluster wherever the functions talk
// to the dashboards: the jobs dispatch, and the serve dispatch when they deploy the runner.
func checkClusterAddresses(c *Config, given map[string]bool, opts Options, errs *Error) {
	from := map[bool]string{true: "RAY_CLUSTERS", false: "RAY_CLUSTERS_FILE"}[given["RAY_CLUSTERS"]]
	if !given[from] || opts.Local || !opts.NeedsRay || c.Ray.Dispatch != DispatchJobs {
		return
	}
	for _, rc := range c.Ray.Clusters {
		if rc.Address == "" {
			errs.add(from, "cluster "+rc.Name+" has no address, which the jobs dispatch needs")
		}
	}
}

// clusterSummaries describe the clusters for the start-up log line, one line each, without
// their tokens: `ray-1 http://ray-1:8265 pools=default,gpu capacity=4 token=set draining`.
func (r Ray) clusterSummaries() []string {
	out := make([]string, 0, len(r.Clusters))
	for _, c := range r.Clusters {
		line := c.Name
		if c.Address != "" {
			line += " " + redact(c.Address)
		}
		line += fmt.Sprintf(" pools=%s capacity=%d token=%s", strings.Join(c.Pools, ","), c.Capacity,
			map[bool]string{true: "set", false: "none"}[c.Token != ""])
		if c.Draining {
			line += " draining"
		}
		out = append(out, line)
	}
	return out
}
