package config

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	sentinelURL = "redis://127.0.0.1:26379?addr=127.0.0.1:26380&addr=127.0.0.1:26381&master_name=main"
	clusterURL  = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"
)

// TestRedisModeAndURL: every shape accepts its own URL form and refuses the others with a message
// that names the mismatch, for REDIS_URL and RAY_RUNNER_REDIS_URL alike.
func TestRedisModeAndURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, mode, url string
		problem         string // "" when accepted
	}{
		{"standalone by default", "", "redis://127.0.0.1:6379/2", ""},
		{"standalone", "standalone", "rediss://u:p@redis.example:6380/0", ""},
		{"sentinel", "sentinel", sentinelURL, ""},
		{"sentinel with a database", "SENTINEL", sentinelURL + "&db=3", ""},
		{"sentinel with a database path", "sentinel", "redis://127.0.0.1:26379/3?master_name=main", ""},
		{"cluster", "cluster", clusterURL, ""},
		{"cluster of one seed", "cluster", "redis://127.0.0.1:7000", ""},
		{"unknown mode", "replicated", "redis://127.0.0.1:6379", "REDIS_MODE: must be standalone, sentinel or cluster"},
		{"sentinel without master_name", "sentinel", "redis://127.0.0.1:26379?addr=127.0.0.1:26380", "REDIS_URL: must name the Sentinel group with master_name="},
		{"sentinel with an empty master_name", "sentinel", "redis://127.0.0.1:26379?master_name=", "REDIS_URL: must name the Sentinel group"},
		{"sentinel with a bad sentinel address", "sentinel", "redis://127.0.0.1:26379?addr=nohostport&master_name=main", "REDIS_URL: must be a Sentinel URL the Redis client accepts"},
		{"sentinel with an unknown option", "sentinel", sentinelURL + "&colour=red", "REDIS_URL: must be a Sentinel URL the Redis client accepts"},
		{"cluster with a database path", "cluster", "redis://127.0.0.1:7000/3?addr=127.0.0.1:7001", "REDIS_URL: must not select a database"},
		{"cluster with database 0 as a path", "cluster", "redis://127.0.0.1:7000/0", "REDIS_URL: must not select a database"},
		{"cluster with a db option", "cluster", clusterURL + "&db=1", "REDIS_URL: must not select a database"},
		{"cluster with master_name", "cluster", clusterURL + "&master_name=main", "REDIS_URL: names a Sentinel group (master_name), which REDIS_MODE=sentinel reads; REDIS_MODE is cluster"},
		{"cluster with an unknown option", "cluster", clusterURL + "&colour=red", "REDIS_URL: must be a Cluster URL the Redis client accepts"},
		{"standalone with a sentinel URL", "standalone", sentinelURL, "REDIS_URL: names a Sentinel group (master_name), which REDIS_MODE=sentinel reads; REDIS_MODE is standalone"},
		{"standalone with a cluster URL", "", clusterURL, "REDIS_URL: lists more servers (addr=)"},
		{"standalone with a bad database", "standalone", "redis://127.0.0.1:6379/x", "REDIS_URL: must be a redis:// or rediss:// URL the Redis client accepts"},
		{"no scheme", "cluster", "127.0.0.1:7000", "REDIS_URL: must be a redis:// or rediss:// URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, variable := range []string{"REDIS_URL", "RAY_RUNNER_REDIS_URL"} {
				vars := map[string]string{"REDIS_MODE": c.mode, "REDIS_URL": c.url}
				if variable == "RAY_RUNNER_REDIS_URL" {
					// The runner's URL is read in the same mode as the functions' own.
					vars = map[string]string{"REDIS_MODE": c.mode, "REDIS_URL": validURL(c.mode), "RAY_RUNNER_REDIS_URL": c.url}
				}
				cfg, err := Load(env(vars), Options{})
				want := c.problem
				if variable != "REDIS_URL" && strings.HasPrefix(want, "REDIS_URL:") {
					want = variable + strings.TrimPrefix(want, "REDIS_URL")
				}
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: %v", variable, err)
				case want == "" && cfg.RedisMode != strings.ToLower(orDefaultMode(c.mode)):
					t.Errorf("%s: mode %q, want %q", variable, cfg.RedisMode, c.mode)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: %v, want a problem %q", variable, err, want)
				}
				if err != nil && strings.Contains(err.Error(), "main") && strings.Contains(c.url, "master_name=main") {
					t.Errorf("%s: the problem echoes the URL: %v", variable, err)
				}
			}
		})
	}
}

func orDefaultMode(m string) string {
	if m == "" {
		return RedisStandalone
	}
	return m
}

// validURL is a URL of mode's own form (the unknown mode's problem is REDIS_MODE's alone).
func validURL(mode string) string {
	switch strings.ToLower(mode) {
	case RedisSentinel:
		return sentinelURL
	case RedisCluster:
		return clusterURL
	}
	return "redis://127.0.0.1:6379"
}

// TestLocalRedisOfEveryShape: make run starts a Redis of its own when REDIS_URL is empty, of the
// shape REDIS_MODE names (embedded standalone by default, a local Sentinel group or Cluster
// otherwise); a deployment without a URL is refused whatever the mode.
func TestLocalRedisOfEveryShape(t *testing.T) {
	t.Parallel()
	if cfg, err := Load(env(nil), Options{Local: true}); err != nil || cfg.RedisMode != RedisStandalone || cfg.RedisURL != "" {
		t.Fatalf("local default: %+v, %v; want standalone with no URL", cfg.RedisMode, err)
	}
	for _, mode := range []string{RedisSentinel, RedisCluster} {
		cfg, err := Load(env(map[string]string{"REDIS_MODE": mode}), Options{Local: true})
		if err != nil || cfg.RedisMode != mode || cfg.RedisURL != "" {
			t.Errorf("local %s without a URL: %q, %v; want the mode with no URL", mode, cfg.RedisMode, err)
		}
		_, err = Load(env(map[string]string{"REDIS_MODE": mode}), Options{})
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL: is required") {
			t.Errorf("deployed %s without a URL: %v, want REDIS_URL required", mode, err)
		}
	}
}

// TestNewRedisClientShape: each mode yields go-redis's client for that shape, with the default
// timeouts where the URL sets none and the URL's own where it does.
func TestNewRedisClientShape(t *testing.T) {
	t.Parallel()
	timeouts := RedisTimeouts{Dial: 2 * time.Second, Read: 3 * time.Second, Write: 4 * time.Second}
	rdb, err := NewRedisClient(RedisStandalone, "redis://127.0.0.1:6379/2?read_timeout=7s", timeouts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	c, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("standalone: %T", rdb)
	}
	if o := c.Options(); o.DB != 2 || o.DialTimeout != 2*time.Second || o.ReadTimeout != 7*time.Second || o.WriteTimeout != 4*time.Second {
		t.Errorf("standalone options: db %d, timeouts %v %v %v", o.DB, o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
	}
	sentinel, err := NewRedisClient(RedisSentinel, sentinelURL, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Close()
	// A failover client is a *redis.Client whose dialer asks the sentinels for the primary.
	if _, ok := sentinel.(*redis.Client); !ok {
		t.Errorf("sentinel: %T", sentinel)
	}
	cluster, err := NewRedisClient(RedisCluster, clusterURL, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cc, ok := cluster.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster: %T", cluster)
	}
	if o := cc.Options(); len(o.Addrs) != 3 || o.ReadTimeout != 3*time.Second {
		t.Errorf("cluster options: %v, read timeout %v", o.Addrs, o.ReadTimeout)
	}
}

// TestNewRedisClientRetries: every shape retries a failover's errors for about 2 s (go-redis's own
// retries, configured), and a URL that sets its own retries keeps them.
func TestNewRedisClientRetries(t *testing.T) {
	t.Parallel()
	timeouts := RedisTimeouts{Dial: time.Second, Read: time.Second, Write: time.Second}
	open := func(mode, url string) redis.UniversalClient {
		rdb, err := NewRedisClient(mode, url, timeouts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	o := open(RedisStandalone, "redis://127.0.0.1:6379/0").(*redis.Client).Options()
	if o.MaxRetries != failoverRetries || o.MinRetryBackoff != failoverMinBackoff || o.MaxRetryBackoff != failoverMaxBackoff || o.DialerRetries != 1 {
		t.Errorf("standalone retries: %d, %v..%v, %d dials a try", o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff, o.DialerRetries)
	}
	if o := open(RedisStandalone, "redis://127.0.0.1:6379/0?max_retries=1").(*redis.Client).Options(); o.MaxRetries != 1 {
		t.Errorf("a URL's max_retries=1 became %d", o.MaxRetries)
	}
	if o := open(RedisSentinel, sentinelURL).(*redis.Client).Options(); o.MaxRetries != failoverRetries || o.MaxRetryBackoff != failoverMaxBackoff || o.DialerRetries != 1 {
		t.Errorf("sentinel retries: %d, up to %v", o.MaxRetries, o.MaxRetryBackoff)
	}
	co := open(RedisCluster, clusterURL).(*redis.ClusterClient).Options()
	if co.MaxRedirects != failoverRetries || co.MinRetryBackoff != failoverMinBackoff || co.MaxRetries != -1 || co.DialerRetries != 1 {
		t.Errorf("cluster: %d tries, from %v, node retries %d", co.MaxRedirects, co.MinRetryBackoff, co.MaxRetries)
	}
	// The whole budget stays about 2 s: at most the sum of the capped backoffs.
	var budget time.Duration
	for i := range failoverRetries {
		budget += min(failoverMinBackoff<<(i+1), failoverMaxBackoff)
	}
	if budget < time.Second || budget > 3*time.Second {
		t.Errorf("retry budget %v, want about 2 s", budget)
	}
}

// TestRedisDurability: REDIS_MIN_REPLICAS_ACK and REDIS_WAIT_TIMEOUT, their defaults and bounds.
func TestRedisDurability(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ack, wait string
		want      RedisDurability
		problem   string
	}{
		{"", "", RedisDurability{0, time.Second}, ""},
		{"1", "250ms", RedisDurability{1, 250 * time.Millisecond}, ""},
		{"-1", "", RedisDurability{}, "REDIS_MIN_REPLICAS_ACK: must be an integer from 0 (no wait) to 16"},
		{"17", "", RedisDurability{}, "REDIS_MIN_REPLICAS_ACK: must be an integer from 0"},
		{"1", "0s", RedisDurability{}, "REDIS_WAIT_TIMEOUT: must be a duration from 1ms to 10s"},
		{"1", "11s", RedisDurability{}, "REDIS_WAIT_TIMEOUT: must be a duration from 1ms to 10s"},
	} {
		env := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_MIN_REPLICAS_ACK": tc.ack, "REDIS_WAIT_TIMEOUT": tc.wait}
		c, err := Load(func(k string) string { return env[k] }, Options{})
		if tc.problem == "" {
			if err != nil || c.RedisDurability != tc.want {
				t.Errorf("%q %q: %+v, %v; want %+v", tc.ack, tc.wait, c.RedisDurability, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%q %q: error %v, want %q", tc.ack, tc.wait, err, tc.problem)
		}
	}
}
