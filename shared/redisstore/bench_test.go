package redisstore

import (
	"context"
	stdjson "encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// benchStore is a store on a fresh redis-server of its own, so one benchmark's keys never slow
// another's reads.
func benchStore(b *testing.B, prefix string) (*Store, *redis.Client) {
	b.Helper()
	srv := testenv.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	b.Cleanup(func() { rdb.Close() })
	return New(rdb, Options{Prefix: prefix}), rdb
}

// BenchmarkCreate is one creation: the script alone without a limit; with one (as execute runs,
// MAX_ACTIVE_DELIBERATIONS) on one primary, the same single script reading every shard's count;
// in the Redis Cluster variant (on the same kind of server), the read of the other shards' active
// counts before the script.
func BenchmarkCreate(b *testing.B) {
	for _, c := range []struct {
		name    string
		limit   int
		cluster bool
	}{{"limit=false", 0, false}, {"limit=true", 1 << 30, false}, {"limit=true,cluster", 1 << 30, true}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := benchStore(b, "bench")
			s.cluster = c.cluster
			req := storetest.Request(b, "task")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, created, err := s.Create(ctx, deliberation.New(deliberation.NewID(), req, storetest.Epoch), req, c.limit); err != nil || !created {
					b.Fatal(created, err)
				}
			}
		})
	}
}

// BenchmarkUpdate is one transition that wins: a read, then the compare-and-set script. From a
// known entry (UpdateFrom, as execute records Ray's acceptance) the read is skipped.
func BenchmarkUpdate(b *testing.B) {
	for _, from := range []bool{false, true} {
		b.Run(fmt.Sprintf("from-known=%v", from), func(b *testing.B) {
			s, _ := benchStore(b, "bench")
			req := storetest.Request(b, "task")
			ctx := context.Background()
			d := deliberation.New(deliberation.NewID(), req, storetest.Epoch)
			if _, _, err := s.Create(ctx, d, req, 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				change := func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
					cur.UpdatedAt = cur.UpdatedAt.Add(time.Millisecond)
					return cur, true
				}
				var err error
				var won bool
				if from {
					d, won, err = s.UpdateFrom(ctx, d, change)
				} else {
					d, won, err = s.Update(ctx, d.ID, change)
				}
				if err != nil || !won {
					b.Fatal(won, err)
				}
			}
		})
	}
}

// BenchmarkGetFinished reads a completed entry, the store's share of a status request.
func BenchmarkGetFinished(b *testing.B) {
	s, _ := benchStore(b, "bench")
	ctx := context.Background()
	ids := fillConcurrently(b, s, 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, ids[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEntryCodec compares the entry codec with encoding/json on a finished entry of three
// agents with 2 KiB proposals, both ways.
func BenchmarkEntryCodec(b *testing.B) {
	res := storetest.LargeResult(b)
	d := deliberation.New(deliberation.NewID(), storetest.Request(b, "task"), storetest.Epoch)
	d, _ = d.Complete(res, 5300, storetest.Epoch.Add(time.Minute))
	raw, err := encodeEntry(d)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte) error
		encode func() error
	}{
		{"encoding-json",
			func(raw []byte) error { var d deliberation.Deliberation; return stdjson.Unmarshal(raw, &d) },
			func() error { _, err := stdjson.Marshal(d); return err }},
		{"store",
			func(raw []byte) error { _, err := decodeEntry(raw); return err },
			func() error { _, err := encodeEntry(d); return err }},
	} {
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStats(b *testing.B) {
	s, _ := benchStore(b, "bench")
	ctx := context.Background()
	fillConcurrently(b, s, 100, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActivePage reads a page of 100 from the middle of the active index with 1,000 and with
// 100,000 deliberations stored (half of them active): docs/performance.md wants the two to cost the
// same.
func BenchmarkActivePage(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		s, _ := benchStore(b, fmt.Sprintf("bench%d", n))
		ids := fillConcurrently(b, s, n, 2)
		// ids[i] is submitted at Epoch + i ms; the even ones are active.
		mid := (n / 2) &^ 1
		cursor := fmt.Sprintf("%d.%s", storetest.Epoch.Add(time.Duration(mid)*time.Millisecond).UnixMilli(), ids[mid])
		b.Run(fmt.Sprintf("stored=%d", n), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				page, next, err := s.Active(ctx, cursor, 100)
				if err != nil || len(page) != 100 || next == "" {
					b.Fatal(len(page), next, err)
				}
			}
		})
	}
}

// fillConcurrently stores n deliberations submitted 1 ms apart from storetest.Epoch through the
// store itself, completing all but every finishEvery-th one (1: all finished, 2: every other one
// left active), and returns their ids.
func fillConcurrently(b *testing.B, s *Store, n, finishEvery int) []string {
	b.Helper()
	req, res := storetest.Request(b, "task"), storetest.Result(b)
	ids := make([]string, n)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			ctx := context.Background()
			for i := int(next.Add(1) - 1); i < n && failed.Load() == nil; i = int(next.Add(1) - 1) {
				ids[i] = deliberation.IDFromKey(fmt.Sprint("bench", i))
				d := deliberation.New(ids[i], req, storetest.Epoch.Add(time.Duration(i)*time.Millisecond))
				_, _, err := s.Create(ctx, d, req, 0)
				if err == nil && (finishEvery == 1 || i%finishEvery != 0) {
					_, _, err = s.Update(ctx, d.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
						return d.Complete(res, 1000, d.SubmittedAt.Add(time.Second))
					})
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return ids
}
