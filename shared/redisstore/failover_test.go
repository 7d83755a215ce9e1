package redisstore

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// failoverCallBound is how long one store call may take while no primary answers: go-redis's
// retries as configured (about 2 s, one refused dial per try), with room for a busy machine.
const failoverCallBound = 5 * time.Second

// TestFailoverSentinel: on a real Sentinel group whose primary is SIGKILLed, the store's creations
// keep going through the functions' client (config.NewRedisClient). Each call returns within a
// bounded time, done or unavailable (a 503 with Retry-After to a caller), never another error,
// and some are unavailable (the failover outlasts the retries); once a replica took over they
// succeed again. Every creation acknowledged before the kill,
// each confirmed by both replicas (WAIT 2), is on the new primary, and the counters count each
// acknowledged creation once: a retried script never counts twice.
func TestFailoverSentinel(t *testing.T) {
	t.Parallel()
	// Down-after 3 s: longer than go-redis's retries, so some calls must give up.
	group := testenv.StartSentinelWith(t, testenv.SentinelOptions{DownAfter: 3 * time.Second})
	rdb := testenv.ShapeClient(t, config.RedisSentinel, group.URL())
	s := New(rdb, Options{Prefix: "failover", Durability: Durability{Replicas: 2, Timeout: time.Second}})
	ctx := t.Context()
	var acknowledged []string
	var longest time.Duration
	create := func() error {
		req := storetest.Request(t, "task")
		d := deliberation.New(deliberation.NewID(), req, time.Now())
		began := time.Now()
		_, created, err := s.Create(ctx, d, req, 0)
		took := time.Since(began)
		if took > failoverCallBound {
			t.Errorf("a creation took %s, over %s", took, failoverCallBound)
		}
		longest = max(longest, took)
		if err == nil && created {
			acknowledged = append(acknowledged, d.ID)
		}
		return err
	}
	for range 20 {
		if err := create(); err != nil {
			t.Fatalf("before the kill: %v", err)
		}
	}
	before := len(acknowledged)
	old := group.Primary(t)
	group.Kill(t, old)
	failures := 0
	deadline := time.Now().Add(30 * time.Second)
	for group.Primary(t) == old {
		err := create()
		if err != nil {
			failures++
			if code := deliberation.ErrorCode(err); code != deliberation.CodeUnavailable {
				t.Fatalf("during the failover: %v (code %s), want unavailable", err, code)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 30 s (%d creations failed)", failures)
		}
	}
	if failures == 0 {
		t.Error("no creation failed while the primary was down for 3 s: the retries are not bounded at about 2 s")
	}
	// Writes go through again on the new primary, within the retries' reach.
	for range 5 {
		if err := create(); err != nil {
			t.Fatalf("after the failover: %v", err)
		}
	}
	for _, id := range acknowledged[:before] {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("creation %s, acknowledged before the kill, lost: %v", id, err)
		}
	}
	stats, _, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.TotalDeliberations != int64(len(acknowledged)) || stats.ActiveDeliberations != int64(len(acknowledged)) {
		t.Errorf("counted %d (%d active), want each of the %d acknowledged creations once (%d failed during the failover)",
			stats.TotalDeliberations, stats.ActiveDeliberations, len(acknowledged), failures)
	}
	t.Logf("%d creations, %d failed as unavailable during the failover; the longest call took %s", len(acknowledged), failures, longest)
}
