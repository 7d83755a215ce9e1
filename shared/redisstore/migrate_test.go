package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// writeLegacy writes a keyspace as the code before shards did (its create.lua and update.lua):
// an active deliberation with a pending event, a completed one, a cancelled one whose Ray side is
// still to be stopped, and the one counters hash.
func writeLegacy(t *testing.T, rdb *redis.Client, prefix string) (active, done, cancelled deliberation.Deliberation, req deliberation.Request) {
	t.Helper()
	ctx := context.Background()
	old := legacy{prefix}
	req = storetest.Request(t, "legacy")
	active = storetest.Entry(deliberation.IDFromKey("legacy-active"), req, 0)
	done = storetest.Entry(deliberation.IDFromKey("legacy-done"), req, time.Second)
	done, _ = done.Complete(storetest.Result(t), 1500, storetest.Epoch.Add(time.Minute))
	cancelled = storetest.Entry(deliberation.IDFromKey("legacy-cancelled"), req, 2*time.Second)
	cancelled, _ = cancelled.Cancel("not needed", storetest.Epoch.Add(time.Minute))
	reqJSON, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	events := New(rdb, Options{Outbox: true})
	p := rdb.TxPipeline()
	for _, d := range []deliberation.Deliberation{active, done, cancelled} {
		raw, err := encodeEntry(d)
		if err != nil {
			t.Fatal(err)
		}
		ttl := time.Hour
		if d.Status.Terminal() {
			ttl = 30 * time.Minute
		}
		p.Set(ctx, old.entry(d.ID), raw, ttl)
		p.Set(ctx, old.request(d.ID), reqJSON, ttl)
		p.Set(ctx, old.idem(d.ID), req.Fingerprint(), ttl)
	}
	p.ZAdd(ctx, old.active(), redis.Z{Score: float64(active.SubmittedAt.UnixMilli()), Member: active.ID})
	records, err := events.outboxRecords(deliberation.Deliberation{}, active)
	if err != nil || len(records) != 1 {
		t.Fatalf("outbox records: %v, %v", records, err)
	}
	p.RPush(ctx, old.outbox(active.ID), records...)
	p.Expire(ctx, old.outbox(active.ID), time.Hour)
	p.ZAdd(ctx, old.outboxIndex(), redis.Z{Member: active.ID})
	p.ZAdd(ctx, old.stopping(), redis.Z{Member: cancelled.ID})
	p.HSet(ctx, old.stats(), "total", 3, "active", 1, "completed", 1, "failed", 0, "cancelled", 1,
		"exec_sum_ms", 1500, "exec_count", 1, "since_ms", storetest.Epoch.UnixMilli())
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return active, done, cancelled, req
}

// TestMigrateFromTheLayoutBeforeShards: a keyspace the previous layout wrote is read by the new
// code after Migrate, entries, requests, idempotency records, indexes, outbox and counters alike,
// with their expiries; the new code then works on it, and a second run changes nothing.
func TestMigrateFromTheLayoutBeforeShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := realClient(t)
	const prefix = "upgrade"
	active, done, cancelled, req := writeLegacy(t, rdb, prefix)
	if found, err := LegacyKeys(ctx, rdb, prefix); err != nil || !found {
		t.Fatalf("LegacyKeys before = %v, %v", found, err)
	}
	m, err := Migrate(ctx, rdb, prefix)
	if err != nil || m != (Migration{Deliberations: 3, Active: 1, Counters: true}) {
		t.Fatalf("Migrate = %+v, %v", m, err)
	}
	if found, err := LegacyKeys(ctx, rdb, prefix); err != nil || found {
		t.Fatalf("LegacyKeys after = %v, %v", found, err)
	}
	if left := rdb.Keys(ctx, prefix+":[^{]*").Val(); len(left) != 0 {
		t.Fatalf("old keys left: %v", left)
	}
	s := New(rdb, Options{Prefix: prefix, Outbox: true})
	for _, d := range []deliberation.Deliberation{active, done, cancelled} {
		got, err := s.Get(ctx, d.ID)
		if err != nil || got.Status != d.Status {
			t.Fatalf("Get(%s) = %s, %v; want %s", d.ID, got.Status, err, d.Status)
		}
		if r, err := s.Request(ctx, d.ID); err != nil || r.Fingerprint() != req.Fingerprint() {
			t.Fatalf("Request(%s): %v", d.ID, err)
		}
	}
	if ttl := rdb.PTTL(ctx, s.keys.entry(done.ID)).Val(); ttl <= 29*time.Minute || ttl > 30*time.Minute {
		t.Fatalf("migrated entry's TTL = %v, want the 30 min it had", ttl)
	}
	st, since, err := s.Stats(ctx)
	if err != nil || st.TotalDeliberations != 3 || st.ActiveDeliberations != 1 || st.CompletedDeliberations != 1 ||
		st.CancelledDeliberations != 1 || st.AverageExecutionTimeMS != 1500 || !since.Equal(storetest.Epoch) {
		t.Fatalf("stats = %+v since %v, %v", st, since, err)
	}
	page, next, err := s.Active(ctx, "", 10)
	if err != nil || len(page) != 1 || page[0].ID != active.ID || next != "" {
		t.Fatalf("active page = %v, %q, %v", page, next, err)
	}
	if ids, err := s.PendingIDs(ctx, "", 10); err != nil || !slices.Equal(ids, []string{active.ID}) {
		t.Fatalf("PendingIDs = %v, %v", ids, err)
	}
	if ev, err := s.Pending(ctx, active.ID, 10); err != nil || len(ev) != 1 || ev[0].Name != deliberation.EventSubmitted {
		t.Fatalf("Pending = %v, %v", ev, err)
	}
	if ids, err := s.Stopping(ctx, "", 10); err != nil || !slices.Equal(ids, []string{cancelled.ID}) {
		t.Fatalf("Stopping = %v, %v", ids, err)
	}
	// The idempotency records came along: a replay finds the entry, another request conflicts.
	if got, created, err := s.Create(ctx, active, req, 100); err != nil || created || got.ID != active.ID {
		t.Fatalf("replayed Create = %v, %v", created, err)
	}
	other := storetest.Request(t, "another")
	if _, _, err := s.Create(ctx, storetest.Entry(done.ID, other, 0), other, 100); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("Create with another request: %v, want conflict", err)
	}
	if _, won, err := s.Update(ctx, active.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Fail("boom", storetest.Epoch.Add(time.Hour))
	}); err != nil || !won {
		t.Fatalf("Update of a migrated entry = %v, %v", won, err)
	}
	if st, _, _ := s.Stats(ctx); st.ActiveDeliberations != 0 || st.FailedDeliberations != 1 || st.TotalDeliberations != 3 {
		t.Fatalf("stats after finishing the migrated one = %+v", st)
	}
	if m, err := Migrate(ctx, rdb, prefix); err != nil || m != (Migration{}) {
		t.Fatalf("second Migrate = %+v, %v; want nothing to do", m, err)
	}
	if st, _, _ := s.Stats(ctx); st.TotalDeliberations != 3 {
		t.Fatalf("stats after a second Migrate = %+v", st)
	}
}
