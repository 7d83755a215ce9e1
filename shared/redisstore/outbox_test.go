package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestOutboxKeysDoNotOutliveTheirEvents: the outbox expires with the retention should nobody
// deliver it, leaves Redis entirely once delivered, and an index entry whose outbox expired is
// dropped on the next read.
func TestOutboxKeysDoNotOutliveTheirEvents(t *testing.T) {
	t.Parallel()
	for name, rdb := range map[string]*redis.Client{"miniredis": miniClient(t), "redis-server": realClient(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := New(rdb, Options{Prefix: "outbox-ttl", Retention: time.Hour, Outbox: true})
			req := storetest.Request(t, "task")
			d, gone := storetest.Entry(deliberation.IDFromKey("delivered"), req, 0), storetest.Entry(deliberation.IDFromKey("expired"), req, 0)
			for _, e := range []deliberation.Deliberation{d, gone} {
				if _, _, err := s.Create(ctx, e, req, 0); err != nil {
					t.Fatal(err)
				}
			}
			if ttl := rdb.TTL(ctx, s.keys.outbox(d.ID)).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
				t.Fatalf("outbox TTL = %v, want the retention", ttl)
			}
			if n, err := s.OutboxDepth(ctx); err != nil || n != 2 {
				t.Fatalf("OutboxDepth = %d, %v; want 2", n, err)
			}
			pending, err := s.Pending(ctx, d.ID, 10)
			if err != nil || len(pending) != 1 {
				t.Fatalf("Pending = %v, %v", pending, err)
			}
			if ok, err := s.Ack(ctx, d.ID, pending[0]); err != nil || !ok {
				t.Fatalf("Ack = %v, %v", ok, err)
			}
			rdb.Del(ctx, s.keys.outbox(gone.ID)) // as its TTL would
			if ids, _ := s.PendingIDs(ctx, "", 10); len(ids) != 1 || ids[0] != gone.ID {
				t.Fatalf("PendingIDs = %v, want the stale %s", ids, gone.ID)
			}
			if p, err := s.Pending(ctx, gone.ID, 10); err != nil || len(p) != 0 {
				t.Fatalf("Pending of an expired outbox = %v, %v", p, err)
			}
			if keys := outboxKeys(t, rdb, "outbox-ttl"); len(keys) != 0 {
				t.Fatalf("outbox keys left after delivery and expiry: %v", keys)
			}
		})
	}
}

// TestNoOutboxWhenEventsOff: with events off (NATS_URL empty), 1,000 deliberations through their
// whole lifecycle leave no outbox key in Redis. The same run with the outbox on leaves some, so the
// scan would see them.
func TestNoOutboxWhenEventsOff(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	run := func(prefix string, outbox bool, n int) []string {
		s := New(rdb, Options{Prefix: prefix, Outbox: outbox})
		ray := &fakes.Ray{}
		settings := app.DefaultSettings()
		settings.MaxActive, settings.CheckPeriod = 0, 0
		settings.Limits.Allowlist = deliberation.AllowAny(nil)
		svc := app.NewService(s, ray, nil, settings, nil)
		res := storetest.Result(t)
		ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
		ctx := context.Background()
		in := deliberation.RequestInput{
			TaskID: "task", TaskDescription: "write a parser", Role: "DEV",
			Constraints: deliberation.ConstraintsInput{StoryID: "story-1"},
			Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"}},
			VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "judge",
		}
		ids := make([]string, n)
		for i := range ids {
			sub, err := svc.Execute(ctx, app.ExecuteCommand{Input: in})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = sub.DeliberationID
		}
		for _, state := range []deliberation.JobState{deliberation.JobRunning, deliberation.JobSucceeded} {
			ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) { return app.AttemptStatus{State: state}, nil }
			time.Sleep(5 * time.Millisecond) // the check markers of the previous round expire
			for _, id := range ids {
				if _, err := svc.Status(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if st, _, err := s.Stats(ctx); err != nil || st.CompletedDeliberations != int64(n) {
			t.Fatalf("stats = %+v, %v; want %d completed", st, err, n)
		}
		return outboxKeys(t, rdb, prefix)
	}
	if keys := run("events-off", false, 1000); len(keys) != 0 {
		t.Fatalf("events off left %d outbox keys, e.g. %s", len(keys), keys[0])
	}
	keys := run("events-on", true, 10)
	lists := 0
	for _, k := range keys {
		if strings.Contains(k, ":outbox:") {
			lists++
		}
	}
	if lists != 10 || len(keys) == lists {
		t.Fatalf("the outbox on left %d keys (%d outboxes), want 10 outboxes and their shards' indexes", len(keys), lists)
	}
}

func outboxKeys(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), fmt.Sprintf("%s:*outbox*", prefix)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
