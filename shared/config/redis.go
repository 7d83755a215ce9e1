package config

import (
	"cmp"
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

// How long go-redis retries a command that failed on something a failover causes (a dropped or
// refused connection, READONLY, LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN; on Cluster also MOVED
// and ASK, followed at once): up to failoverRetries more tries, backing off from 32 ms doubling
// to 512 ms, about 2 s in all when the dead primary refuses connections. Each try dials once
// (go-redis would try a dial 5 times, 100 ms apart, inside every try, which made it about 5 s), so
// a primary that drops connections instead costs a dial timeout per try. Short next to a failover
// (down-after-milliseconds plus the election: seconds), long enough for what follows one (a client
// reconnecting to the new primary, a restarted node loading). What still fails then surfaces as
// unavailable: 503 with Retry-After. Every command the functions send is safe to repeat
// (docs/state.md, Failover).
const (
	failoverRetries    = 6
	failoverMinBackoff = 32 * time.Millisecond
	failoverMaxBackoff = 512 * time.Millisecond
	failoverDials      = 1
)

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
		o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff = retries(o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff)
		o.DialerRetries = cmp.Or(o.DialerRetries, failoverDials)
		return redis.NewFailoverClient(o), nil
	case RedisCluster:
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orDefault(o.DialTimeout, t.Dial), orDefault(o.ReadTimeout, t.Read), orDefault(o.WriteTimeout, t.Write)
		// The cluster client's own loop retries (MaxRedirects counts its tries, redirections and
		// retries alike); its node clients do not (MaxRetries stays off), or tries would multiply.
		o.MaxRedirects, o.MinRetryBackoff, o.MaxRetryBackoff = retries(o.MaxRedirects, o.MinRetryBackoff, o.MaxRetryBackoff)
		o.DialerRetries = cmp.Or(o.DialerRetries, failoverDials)
		return redis.NewClusterClient(o), nil
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orDefault(o.DialTimeout, t.Dial), orDefault(o.ReadTimeout, t.Read), orDefault(o.WriteTimeout, t.Write)
		o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff = retries(o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff)
		o.DialerRetries = cmp.Or(o.DialerRetries, failoverDials)
		return redis.NewClient(o), nil
	}
}

// retries fills in the failover retries a URL leaves unset (max_retries, min_retry_backoff,
// max_retry_backoff, max_redirects, dialer_retries: a URL that sets one keeps its own).
func retries(n int, minBackoff, maxBackoff time.Duration) (int, time.Duration, time.Duration) {
	if n == 0 {
		n = failoverRetries
	}
	return n, orDefault(minBackoff, failoverMinBackoff), orDefault(maxBackoff, failoverMaxBackoff)
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
