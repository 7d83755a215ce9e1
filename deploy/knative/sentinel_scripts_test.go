package knative

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sentinelDomain is the pods' DNS domain the scripts build names in.
const sentinelDomain = "redis-sentinel.ray-executor.svc.cluster.local"

// runSentinelScript runs one script of the group's ConfigMap with sh, its paths moved into a
// temporary directory and redis-cli, hostname and redis-server replaced by stubs: the pod is
// host, and the sentinels name primary ("" when none answers). It returns what redis-server was
// started with, then the file it was given first.
func runSentinelScript(t *testing.T, script, host, primary string) string {
	t.Helper()
	need := func(name string) {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not installed", name)
		}
	}
	need("sh")
	need("timeout")
	var data0 map[string]string
	for _, cm := range build(t, sentinelOverlay).configMaps {
		if cm.Name == sentinelSet {
			data0 = cm.Data
		}
	}
	if data0 == nil {
		t.Fatal("no ConfigMap " + sentinelSet)
	}
	dir := t.TempDir()
	etc, data, bin := filepath.Join(dir, "etc"), filepath.Join(dir, "sentinel"), filepath.Join(dir, "bin")
	for _, d := range []string{etc, data, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	moved := strings.NewReplacer("/etc/redis-sentinel", etc, "/sentinel/", data+"/")
	for name, text := range data0 {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(moved.Replace(text)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stubs := map[string]string{
		"hostname":     "echo " + host,
		"redis-cli":    `[ -n "$STUB_PRIMARY" ] && printf '%s\n6379\n' "$STUB_PRIMARY"`,
		"redis-server": `echo "$@"; if [ -f "$1" ]; then cat "$1"; fi`,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", filepath.Join(etc, script))
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "STUB_PRIMARY=" + primary}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestSentinelScripts: a data node replicates the primary the sentinels name, and with none
// answering (the group's first start) redis-sentinel-0 is the primary; every node announces its
// stable name; a sentinel monitors that primary under the URL's group name with quorum 2.
func TestSentinelScripts(t *testing.T) {
	t.Parallel()
	node := func(i string) string { return "redis-sentinel-" + i + "." + sentinelDomain }
	cases := []struct {
		name, script, host, primary string
		want, notWant               []string
	}{
		{"first start, node 0", "start-redis.sh", "redis-sentinel-0", "",
			[]string{"--replica-announce-ip " + node("0")}, []string{"--replicaof"}},
		{"first start, node 1", "start-redis.sh", "redis-sentinel-1", "",
			[]string{"--replicaof " + node("0") + " 6379", "--replica-announce-ip " + node("1")}, nil},
		{"after a failover, the old primary", "start-redis.sh", "redis-sentinel-0", node("2"),
			[]string{"--replicaof " + node("2") + " 6379"}, nil},
		{"the primary restarting before a failover", "start-redis.sh", "redis-sentinel-2", node("2"),
			nil, []string{"--replicaof"}},
		{"a sentinel, first start", "start-sentinel.sh", "redis-sentinel-1", "",
			[]string{"sentinel monitor rxredis " + node("0") + " 6379 2", "sentinel announce-ip " + node("1"),
				"sentinel resolve-hostnames yes", "sentinel down-after-milliseconds rxredis 5000", "--sentinel"}, nil},
		{"a sentinel after a failover", "start-sentinel.sh", "redis-sentinel-0", node("2"),
			[]string{"sentinel monitor rxredis " + node("2") + " 6379 2"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := runSentinelScript(t, c.script, c.host, c.primary)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("want %q in:\n%s", w, out)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(out, w) {
					t.Errorf("want no %q in:\n%s", w, out)
				}
			}
		})
	}
}
