package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/rayexecutor/functions/shared/config"
)

func TestParseClusterOptions(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := parseOptions([]string{"-root", "/repo"}, env(map[string]string{"RUN_RAY_CLUSTERS": "2", "RUN_RUNNER_ARGS": `{"claim_idle_s":5}`}), &bytes.Buffer{})
	if err != nil || o.clusters != 2 || o.runnerArgs["claim_idle_s"] != float64(5) {
		t.Fatalf("parseOptions = %+v, %v", o, err)
	}
	if o, err := parseOptions([]string{"-root", "/repo"}, env(nil), &bytes.Buffer{}); err != nil || o.clusters != 1 {
		t.Errorf("the default is one cluster: %+v, %v", o, err)
	}
	for _, bad := range []map[string]string{
		{"RUN_RAY_CLUSTERS": "0"}, {"RUN_RAY_CLUSTERS": "5"}, {"RUN_RAY_CLUSTERS": "two"},
		{"RUN_RUNNER_ARGS": "[1]"}, {"RUN_RUNNER_ARGS": "null"}, {"RUN_RUNNER_ARGS": "{"},
	} {
		if _, err := parseOptions([]string{"-root", "/repo"}, env(bad), &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestClusterHeadEnv: every further head takes the next GCS and dashboard ports (rayhead.sh derives
// its other ports from the GCS port) and a temp dir of its own, so two heads share nothing.
func TestClusterHeadEnv(t *testing.T) {
	t.Parallel()
	given := []string{"PATH=/bin", "RAY_HEAD_PORT=6395", "RAY_DASHBOARD_PORT=8295", "RAY_HEAD_TEMP_DIR=/tmp/rx"}
	first, err := clusterHeadEnv(given, 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := clusterHeadEnv(given, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env        []string
		name, want string
	}{
		{first, "RAY_HEAD_PORT", "6395"}, {first, "RAY_DASHBOARD_PORT", "8295"}, {first, "RAY_HEAD_TEMP_DIR", "/tmp/rx"},
		{second, "RAY_HEAD_PORT", "6396"}, {second, "RAY_DASHBOARD_PORT", "8296"}, {second, "RAY_HEAD_TEMP_DIR", "/tmp/rx-2"},
	} {
		if got := lookup(c.env, c.name); got != c.want {
			t.Errorf("%s = %q, want %q", c.name, got, c.want)
		}
	}
	defaults, err := clusterHeadEnv([]string{"PATH=/bin"}, 1)
	if err != nil || lookup(defaults, "RAY_HEAD_PORT") != "6381" || lookup(defaults, "RAY_HEAD_TEMP_DIR") != "" {
		t.Errorf("the second head by default: %v, %v (rayhead.sh names its temp dir by port)", defaults, err)
	}
	if _, err := clusterHeadEnv([]string{"RAY_HEAD_PORT=x"}, 1); err == nil {
		t.Error("RAY_HEAD_PORT=x accepted")
	}
	var list []config.RayCluster
	if err := json.Unmarshal([]byte(clustersSetting([]localCluster{{"ray-1", "http://a"}, {"ray-2", "http://b"}})), &list); err != nil ||
		!slices.Equal([]string{list[0].Name, list[1].Name, list[1].Address}, []string{"ray-1", "ray-2", "http://b"}) {
		t.Errorf("RAY_CLUSTERS = %v, %v", list, err)
	}
}
