package runnerqueue_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// BenchmarkLag is what backpressure costs every execute: the lag summed over every shard, in one
// pipelined round trip, on a redis-server whose queue holds 1,000 attempts.
func BenchmarkLag(b *testing.B) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(b).Addr})
	b.Cleanup(func() { rdb.Close() })
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "bench", Policy: openLimits.JobPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		d, req := raycontract.Deliberation(b)
		if err := q.Submit(ctx, d, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if n, err := q.Lag(ctx); err != nil || n != 1000 {
			b.Fatalf("lag = %d, %v", n, err)
		}
	}
}

// BenchmarkSubmit is the enqueue (its shard's script, one round trip).
func BenchmarkSubmit(b *testing.B) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(b).Addr})
	b.Cleanup(func() { rdb.Close() })
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "bench", Policy: openLimits.JobPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	d, req := raycontract.Deliberation(b)
	for b.Loop() {
		b.StopTimer()
		d, _ = raycontract.Deliberation(b)
		b.StartTimer()
		if err := q.Submit(ctx, d, req); err != nil {
			b.Fatal(err)
		}
	}
}
