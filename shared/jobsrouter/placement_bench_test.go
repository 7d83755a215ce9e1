package jobsrouter

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
)

// BenchmarkPlaceAndUnplace is the router's Redis cost per attempt: one placement among two clusters
// holding 1,000 outstanding attempts each, and its removal on delete.
func BenchmarkPlaceAndUnplace(b *testing.B) {
	srv := testenv.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { _ = rdb.Close() })
	p := placements{rdb: rdb, prefix: "bench", ttl: defaultPlacementTTL}
	ctx := context.Background()
	cands := []candidate{{name: "ray-1", capacity: 1}, {name: "ray-2", capacity: 2}}
	for i := range 3000 {
		if _, _, _, err := p.place(ctx, "warm-"+strconv.Itoa(i), "default", cands, i%2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		id := "a-" + strconv.Itoa(i)
		at, _, _, err := p.place(ctx, id, "default", cands, i%2)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.unplace(ctx, id, at.Cluster); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "attempts/s")
}
