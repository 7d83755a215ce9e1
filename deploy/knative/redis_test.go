package knative

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// redisConf parses redis.conf directives (one per line, first word the name, later lines win).
func redisConf(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		out[strings.ToLower(name)] = strings.TrimSpace(value)
	}
	return out
}

// TestRedisKeepsEveryWrite checks the settings docs/deploy.md names: AOF persistence fsynced on every
// write (README.md explains the choice) and no eviction, with maxmemory below the container's
// limit so Redis refuses writes before the kernel kills it.
func TestRedisKeepsEveryWrite(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	if len(d.sets) != 1 {
		t.Fatalf("want one Redis StatefulSet, got %d", len(d.sets))
	}
	set := d.sets[0]
	var confMap string
	for _, v := range set.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			confMap = v.ConfigMap.Name
		}
	}
	var conf map[string]string
	for _, cm := range d.configMaps {
		if cm.Name == confMap {
			conf = redisConf(cm.Data["redis.conf"])
		}
	}
	for name, want := range map[string]string{
		"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction", "dir": "/data",
	} {
		if conf[name] != want {
			t.Errorf("redis.conf of ConfigMap %q: %s is %q, want %q", confMap, name, conf[name], want)
		}
	}
	c := set.Spec.Template.Spec.Containers[0]
	if !strings.Contains(strings.Join(c.Args, " "), "/etc/redis/redis.conf") {
		t.Errorf("Redis is not started with the mounted redis.conf: %v", c.Args)
	}
	// redis.conf's "256mb" is 256 MiB to Redis.
	maxmem := resource.MustParse(strings.TrimSuffix(strings.ToLower(conf["maxmemory"]), "mb") + "Mi")
	if limit := c.Resources.Limits.Memory(); limit.IsZero() || maxmem.Cmp(*limit) >= 0 {
		t.Errorf("maxmemory %s must stay below the memory limit %s", conf["maxmemory"], limit)
	}
}
