package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func miniClient(t *testing.T) *redis.Client {
	rdb, _ := mini(t)
	return rdb
}

func mini(t *testing.T) (*redis.Client, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb, mr
}

// realClient connects to one redis-server per test function; each store gets its own prefix.
func realClient(t *testing.T) *redis.Client {
	t.Helper()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestContractMiniredis(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, events bool) storetest.Subject {
		rdb, mr := mini(t)
		s := New(rdb, Options{Outbox: events})
		return storetest.Subject{Store: s, Outbox: s, Pass: mr.FastForward}
	})
}

func TestContractRedisServer(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	n := 0
	storetest.Run(t, func(t *testing.T, events bool) storetest.Subject {
		n++
		s := New(rdb, Options{Prefix: fmt.Sprintf("contract%d", n), Outbox: events})
		return storetest.Subject{Store: s, Outbox: s}
	})
}

// TestExpiryContract: how long keys live, on both servers (miniredis moves its clock when told).
func TestExpiryContract(t *testing.T) {
	t.Parallel()
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		storetest.RunExpiry(t, func(t *testing.T, retention time.Duration) storetest.Subject {
			rdb, mr := mini(t)
			s := New(rdb, Options{Retention: retention})
			return storetest.Subject{Store: s, Outbox: s, Pass: mr.FastForward}
		})
	})
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		rdb := realClient(t)
		var n atomic.Int32
		storetest.RunExpiry(t, func(t *testing.T, retention time.Duration) storetest.Subject {
			s := New(rdb, Options{Prefix: fmt.Sprintf("expiry%d", n.Add(1)), Retention: retention})
			return storetest.Subject{Store: s, Outbox: s}
		})
	})
}

func TestRetentionTTL(t *testing.T) {
	t.Parallel()
	for name, rdb := range map[string]*redis.Client{"miniredis": miniClient(t), "redis-server": realClient(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := New(rdb, Options{Prefix: "ttl", Retention: time.Hour})
			req := storetest.Request(t, "task")
			d := storetest.Entry(deliberation.IDFromKey("ttl"), req, 0)
			if _, _, err := s.Create(ctx, d, req, 0); err != nil {
				t.Fatal(err)
			}
			// The fixture's timeout is 300 s: an active entry lives until its deadline and the retention.
			for _, key := range []string{s.keys.entry(d.ID), s.keys.request(d.ID), s.keys.idem(d.ID)} {
				if ttl := rdb.PTTL(ctx, key).Val(); ttl <= time.Hour+299*time.Second || ttl > time.Hour+300*time.Second {
					t.Fatalf("%s TTL = %v while active, want the timeout and the retention", key, ttl)
				}
			}
			if _, _, err := s.Update(ctx, d.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
				return d.Running(storetest.Epoch)
			}); err != nil {
				t.Fatal(err)
			}
			if ttl := rdb.PTTL(ctx, s.keys.entry(d.ID)).Val(); ttl <= time.Hour+299*time.Second {
				t.Fatalf("entry TTL = %v after an update, want it kept", ttl)
			}
			if _, _, err := s.Update(ctx, d.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
				return d.Fail("x", storetest.Epoch)
			}); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{s.keys.entry(d.ID), s.keys.idem(d.ID)} {
				if ttl := rdb.TTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
					t.Fatalf("%s TTL = %v after finishing, want the retention", key, ttl)
				}
			}
			// The request is dropped with the terminal transition: nothing reads it after, and
			// kept for the retention it let a create-cancel loop fill Redis (the fingerprint stays).
			if n := rdb.Exists(ctx, s.keys.request(d.ID)).Val(); n != 0 {
				t.Fatal("the request outlived the terminal transition")
			}
			if n := rdb.ZCard(ctx, s.keys.active(shardOf(d.ID))).Val(); n != 0 {
				t.Fatalf("active index holds %d after finishing", n)
			}
		})
	}
}

func TestUnavailableWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	s := New(rdb, Options{})
	srv.Kill()
	ctx := context.Background()
	req := storetest.Request(t, "task")
	_, _, err := s.Create(ctx, storetest.Entry(deliberation.NewID(), req, 0), req, 0)
	if deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("Create with Redis down: %v, want unavailable", err)
	}
	if _, _, err := s.Stats(ctx); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("Stats with Redis down: %v, want unavailable", err)
	}
	if _, err := s.Get(ctx, deliberation.NewID()); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("Get with Redis down: %v, want unavailable", err)
	}
}

// racyStore is the store without its atomicity: Create checks then writes, Update reads, decides
// and writes whatever is stored by then. The race test must catch it.
type racyStore struct{ *Store }

func (r racyStore) Create(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, _ int) (deliberation.Deliberation, bool, error) {
	if existing, err := r.Get(ctx, d.ID); err == nil {
		return existing, false, nil
	}
	time.Sleep(time.Millisecond)
	entry, _ := json.Marshal(d)
	reqJSON, _ := json.Marshal(req)
	p := r.rdb.Pipeline()
	p.Set(ctx, r.keys.entry(d.ID), entry, 0)
	p.Set(ctx, r.keys.request(d.ID), reqJSON, 0)
	shard := shardOf(d.ID)
	p.ZAdd(ctx, r.keys.active(shard), redis.Z{Score: float64(d.SubmittedAt.UnixMilli()), Member: d.ID})
	p.HIncrBy(ctx, r.keys.stats(shard), "total", 1)
	p.HIncrBy(ctx, r.keys.stats(shard), "active", 1)
	_, err := p.Exec(ctx)
	return d, err == nil, err
}

func (r racyStore) Update(ctx context.Context, id string, change app.Change) (deliberation.Deliberation, bool, error) {
	before, err := r.Get(ctx, id)
	if err != nil {
		return before, false, err
	}
	after, changed := change(before)
	if !changed {
		return before, false, nil
	}
	time.Sleep(time.Millisecond)
	// Compare against whatever is stored now, not against what the change was computed from.
	now, err := r.rdb.Get(ctx, r.keys.entry(id)).Bytes()
	if err != nil {
		return before, false, err
	}
	won, err := r.compareAndSet(ctx, &snapshot{raw: now, entry: before}, after)
	return after, won, err
}

func (r racyStore) UpdateFrom(ctx context.Context, known deliberation.Deliberation, change app.Change) (deliberation.Deliberation, bool, error) {
	return r.Update(ctx, known.ID, change)
}

// TestRaceCatchesNonAtomicStore: a race is a matter of chance, so the racy store gets a few runs;
// one that finds no violation in any of them means the race test cannot catch it.
func TestRaceCatchesNonAtomicStore(t *testing.T) {
	t.Parallel()
	var violations []string
	for run := 1; run <= 5 && len(violations) == 0; run++ {
		violations = storetest.Race(t, racyStore{New(miniClient(t), Options{})})
	}
	if len(violations) == 0 {
		t.Fatal("the race test passed a store without atomic transitions in 5 runs")
	}
	t.Logf("the race caught the non-atomic store: %d violations, e.g. %s", len(violations), violations[0])
}

func TestDecodeErrorIsNotUnavailable(t *testing.T) {
	t.Parallel()
	rdb := miniClient(t)
	s := New(rdb, Options{})
	id := deliberation.NewID()
	rdb.Set(context.Background(), s.keys.entry(id), "{not json", 0)
	_, err := s.Get(context.Background(), id)
	if err == nil || errors.Is(err, redis.Nil) || deliberation.ErrorCode(err) != deliberation.CodeInternal {
		t.Fatalf("Get of a corrupt entry: %v, want an internal error", err)
	}
}
