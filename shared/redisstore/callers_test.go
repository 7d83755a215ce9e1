package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestCallerQuotaAcrossShards: a caller's bound counts its deliberations in every shard. On one
// primary 40 of alice's creations racing over every shard create exactly her bound; in the
// Redis Cluster variant exactly within one shard. Bob's quota is his own, alice's page lists only
// hers, and a terminal transition frees her slot and leaves her page.
func TestCallerQuotaAcrossShards(t *testing.T) {
	t.Parallel()
	for _, cluster := range []bool{false, true} {
		t.Run(fmt.Sprint("cluster=", cluster), func(t *testing.T) {
			t.Parallel()
			rdb := realClient(t)
			ctx := context.Background()
			prefix := fmt.Sprint("quota", cluster)
			s := New(rdb, Options{Prefix: prefix, Cluster: cluster})
			req := storetest.Request(t, "task")
			shard := -1
			if cluster {
				shard = 3
			}
			var created atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, id := range idsInShard(prefix+"alice", shard, 40) {
				wg.Go(func() {
					<-start
					d := storetest.Entry(id, req, 0)
					d.Caller = "alice"
					_, ok, err := s.CreateAs(ctx, d, req, 1000, 5)
					if ok {
						created.Add(1)
					} else if deliberation.ErrorCode(err) != deliberation.CodeTooMany {
						t.Errorf("CreateAs: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if created.Load() != 5 {
				t.Fatalf("alice created %d racing, want her bound 5", created.Load())
			}
			bob := storetest.Entry(deliberation.IDFromKey(prefix+"bob"), req, 0)
			bob.Caller = "bob"
			if _, ok, err := s.CreateAs(ctx, bob, req, 1000, 5); !ok {
				t.Fatalf("bob refused by alice's quota: %v", err)
			}
			page, _, err := s.ActiveOf(ctx, "alice", "", 100)
			if err != nil || len(page) != 5 {
				t.Fatalf("alice's page: %d entries, %v", len(page), err)
			}
			for _, d := range page {
				if d.Caller != "alice" {
					t.Fatalf("alice's page lists %s's %s", d.Caller, d.ID)
				}
			}
			if all, _, _ := s.Active(ctx, "", 100); len(all) != 6 {
				t.Fatalf("the operator's page: %d entries, want 6", len(all))
			}
			if _, _, err := s.Update(ctx, page[0].ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
				return d.Cancel("", storetest.Epoch)
			}); err != nil {
				t.Fatal(err)
			}
			if after, _, _ := s.ActiveOf(ctx, "alice", "", 100); len(after) != 4 {
				t.Fatalf("alice's page after a cancel: %d entries, want 4", len(after))
			}
			more := storetest.Entry(deliberation.IDFromKey(prefix+"alice-more"), req, 0)
			more.Caller = "alice"
			if _, ok, err := s.CreateAs(ctx, more, req, 1000, 5); !ok {
				t.Fatalf("alice's freed slot not usable: %v", err)
			}
			if _, _, err := s.CreateAs(ctx, storetest.Entry(deliberation.IDFromKey(prefix+"alice-over"), req, 0), req, 1000, 5); err != nil {
				t.Fatalf("an entry without a caller is bound by no caller: %v", err)
			}
		})
	}
}

// TestIDSecretIsSharedAndKept: the first store to need the id secret generates it; every other
// store of the prefix (another replica) reads the same, and it survives the store.
func TestIDSecretIsSharedAndKept(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	ctx := context.Background()
	a, err := New(rdb, Options{Prefix: "secret"}).IDSecret(ctx)
	if err != nil || len(a) != 32 {
		t.Fatalf("secret %x, %v", a, err)
	}
	b, _ := New(rdb, Options{Prefix: "secret"}).IDSecret(ctx)
	other, _ := New(rdb, Options{Prefix: "secret2"}).IDSecret(ctx)
	if string(a) != string(b) || string(a) == string(other) {
		t.Fatalf("replicas disagree or prefixes share: %x %x %x", a, b, other)
	}
	if ttl := rdb.TTL(ctx, "secret:id-secret").Val(); ttl != -1 {
		t.Fatalf("the secret expires (ttl %v)", ttl)
	}
}

// TestSubmitRateIsOneBucket: 50 executes of one caller racing take exactly its burst; the next
// waits about 1/rate; another caller's bucket is its own; a bucket refills at its rate.
func TestSubmitRateIsOneBucket(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	ctx := context.Background()
	s := New(rdb, Options{Prefix: "rate"})
	var taken atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			wait, err := s.TakeSubmit(ctx, "alice", 0.5, 10)
			if err != nil {
				t.Error(err)
			}
			if wait == 0 {
				taken.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if taken.Load() != 10 {
		t.Fatalf("50 racing executes took %d tokens, want the burst 10", taken.Load())
	}
	if wait, _ := s.TakeSubmit(ctx, "alice", 0.5, 10); wait < 1900*time.Millisecond || wait > 2000*time.Millisecond {
		t.Fatalf("next token in %v, want about 2s at 0.5 per second", wait)
	}
	if wait, _ := s.TakeSubmit(ctx, "bob", 0.5, 10); wait != 0 {
		t.Fatalf("bob waits %v on alice's bucket", wait)
	}
	for range 2 {
		if wait, _ := s.TakeSubmit(ctx, "carol", 50, 1); wait != 0 && wait > 20*time.Millisecond {
			t.Fatalf("carol waits %v at 50 per second", wait)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if ttl := rdb.PTTL(ctx, s.keys.rate("alice")).Val(); ttl <= 0 || ttl > 21*time.Second {
		t.Fatalf("alice's bucket expires in %v, want once it would be full (20 s) and a second", ttl)
	}
}

// TestEntriesFromBeforeCallers: an entry stored as versions before named callers wrote it (no
// caller field, in no caller's index) reads, pages and cancels as before; it is in no caller's page.
func TestEntriesFromBeforeCallers(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	ctx := context.Background()
	s := New(rdb, Options{Prefix: "before"})
	req := storetest.Request(t, "task")
	d := storetest.Entry(deliberation.IDFromKey("before"), req, 0)
	old := `{"id":"` + d.ID + `","task_id":"task","role":"DEV","status":"submitted","submitted_at":"2026-11-26T12:00:00Z",` +
		`"deadline":"2026-11-26T12:05:00Z","updated_at":"2026-11-26T12:00:00Z","attempts":1,"max_attempts":4,` +
		`"submission_id":"` + d.ID + `","attempt_at":"2026-11-26T12:00:00Z","total_agents":2}`
	if _, _, err := s.Create(ctx, d, req, 0); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, s.keys.entry(d.ID), old, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, d.ID)
	if err != nil || got.Caller != "" || got.TaskID != "task" {
		t.Fatalf("the old entry reads %+v, %v", got, err)
	}
	if page, _, _ := s.Active(ctx, "", 10); len(page) != 1 {
		t.Fatalf("the operator's page holds %d", len(page))
	}
	if page, _, _ := s.ActiveOf(ctx, "alice", "", 10); len(page) != 0 {
		t.Fatalf("a caller's page holds the old entry")
	}
	if _, ok, err := s.Update(ctx, d.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Cancel("", storetest.Epoch)
	}); !ok || err != nil {
		t.Fatalf("cancelling the old entry: %v, %v", ok, err)
	}
	if page, _, _ := s.Active(ctx, "", 10); len(page) != 0 {
		t.Fatal("the cancelled old entry stays on the page")
	}
}
