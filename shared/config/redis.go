package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shapes of a Redis deployment (REDIS_MODE). Each reads REDIS_URL in go-redis's own URL form
// for it: ParseURL, ParseFailoverURL, ParseClusterURL.
const (
	// RedisStandalone is one server: redis://host:port/db.
	RedisStandalone = "standalone"
	// RedisSentinel is a primary with replicas that sentinels fail over:
	// redis://sentinel:port?addr=sentinel2:port&addr=sentinel3:port&master_name=NAME.
	RedisSentinel = "sentinel"
	// RedisCluster is Redis Cluster: redis://node:port?addr=node2:port&addr=node3:port.
	RedisCluster = "cluster"
)

// RedisTimeouts fill in the dial, read and write timeouts a URL leaves at zero.
type RedisTimeouts struct {
	Dial, Read, Write time.Duration
}

// NewRedisClient connects to the Redis that mode and rawURL describe, the one place a URL
// becomes a client. Load has validated both, so an error here is a caller's own URL.
func NewRedisClient(mode, rawURL string, t RedisTimeouts) (redis.UniversalClient, error) {
	switch mode {
	case RedisSentinel:
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orDefault(o.DialTimeout, t.Dial), orDefault(o.ReadTimeout, t.Read), orDefault(o.WriteTimeout, t.Write)
		return redis.NewFailoverClient(o), nil
	case RedisCluster:
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orDefault(o.DialTimeout, t.Dial), orDefault(o.ReadTimeout, t.Read), orDefault(o.WriteTimeout, t.Write)
		return redis.NewClusterClient(o), nil
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orDefault(o.DialTimeout, t.Dial), orDefault(o.ReadTimeout, t.Read), orDefault(o.WriteTimeout, t.Write)
		return redis.NewClient(o), nil
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func parseRedisMode(v string, dst *string) string {
	switch m := strings.ToLower(v); m {
	case RedisStandalone, RedisSentinel, RedisCluster:
		*dst = m
		return ""
	}
	return "must be standalone, sentinel or cluster, got " + quoted(v)
}

// redisURLProblem says what is wrong with rawURL for mode, or "". It never echoes the URL (it may
// hold a password). An unknown mode (reported on REDIS_MODE) checks only the scheme and host.
func redisURLProblem(mode, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return "must be a redis:// or rediss:// URL"
	}
	q := u.Query()
	path := strings.Trim(u.Path, "/")
	switch mode {
	case RedisStandalone:
		if q.Has("master_name") {
			return "names a Sentinel group (master_name), which REDIS_MODE=sentinel reads; REDIS_MODE is standalone"
		}
		if q.Has("addr") {
			return "lists more servers (addr=), which only REDIS_MODE=sentinel or cluster reads; REDIS_MODE is standalone"
		}
		if _, err := redis.ParseURL(rawURL); err != nil {
			return "must be a redis:// or rediss:// URL the Redis client accepts (redis://host:port/db)"
		}
	case RedisSentinel:
		if q.Get("master_name") == "" {
			return "must name the Sentinel group with master_name= (REDIS_MODE=sentinel: redis://sentinel:port?addr=sentinel2:port&master_name=NAME)"
		}
		if _, err := redis.ParseFailoverURL(rawURL); err != nil {
			return "must be a Sentinel URL the Redis client accepts (redis://sentinel:port?addr=sentinel2:port&master_name=NAME)"
		}
	case RedisCluster:
		if path != "" || q.Has("db") {
			return "must not select a database: Redis Cluster has only database 0 (REDIS_MODE=cluster)"
		}
		if q.Has("master_name") {
			return "names a Sentinel group (master_name), which REDIS_MODE=sentinel reads; REDIS_MODE is cluster"
		}
		if _, err := redis.ParseClusterURL(rawURL); err != nil {
			return "must be a Cluster URL the Redis client accepts (redis://node:port?addr=node2:port&addr=node3:port)"
		}
	}
	return ""
}
