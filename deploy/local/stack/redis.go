package main

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"

	"github.com/rayexecutor/functions/internal/localredis"
	"github.com/rayexecutor/functions/shared/config"
)

// startLocalRedis starts the Redis of mode when REDIS_URL names none: miniredis embedded for
// standalone, redis-server processes for a Sentinel group or a Cluster (miniredis has neither).
// It returns the URL in go-redis's form for mode, and the table's note.
func (s *stack) startLocalRedis(ctx context.Context, mode string) (url, note string, err error) {
	var g *localredis.Group
	switch mode {
	case config.RedisSentinel:
		g, err = localredis.StartSentinel(ctx)
		note = fmt.Sprintf("local Sentinel group %q: 1 primary, %d replicas, %d sentinels (redis-server)",
			localredis.SentinelMaster, localredis.SentinelReplicas, localredis.Sentinels)
	case config.RedisCluster:
		g, err = localredis.StartCluster(ctx)
		note = fmt.Sprintf("local Redis Cluster: %d primaries with a replica each (redis-server)", localredis.ClusterPrimaries)
	default:
		url, err = s.startRedis()
		return url, "embedded (miniredis)", err
	}
	if err != nil {
		return "", "", err
	}
	s.onStop("redis "+mode, g.Stop)
	return g.URL, note, nil
}

// startRedis embeds a Redis (miniredis) on a free port of 127.0.0.1 and returns its URL.
func (s *stack) startRedis() (string, error) {
	m := miniredis.NewMiniRedis()
	// miniredis counts TTLs down only when told to; the functions rely on them running with the
	// clock as on a real server (the once-a-second Ray check marker, retention of finished work).
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return "", fmt.Errorf("embedded redis: %w", err)
	}
	s.onStop("redis", m.Close)
	return "redis://" + m.Addr(), nil
}
