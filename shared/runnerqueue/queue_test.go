package runnerqueue_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// pxKeys are the queue's keys under the prefix "px".
var pxKeys = runnerqueue.NewKeys("px")

// runnerServers are the Redis servers the runner port is tested on: miniredis (make run's default)
// and a real redis-server (production's).
func runnerServers(t *testing.T) map[string]*redis.Client {
	t.Helper()
	mini := miniredis.RunT(t)
	real := testenv.StartRedis(t)
	clients := map[string]*redis.Client{
		"miniredis":    redis.NewClient(&redis.Options{Addr: mini.Addr()}),
		"redis-server": redis.NewClient(&redis.Options{Addr: real.Addr}),
	}
	for _, c := range clients {
		t.Cleanup(func() { c.Close() })
	}
	return clients
}

// TestRunnerPort walks one attempt through the states the runner writes, on both servers.
func TestRunnerPort(t *testing.T) {
	t.Parallel()
	for name, rdb := range runnerServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "px", CallbackURL: "http://status.local/", Policy: openLimits.JobPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			d, req := raycontract.Deliberation(t)
			id := d.SubmissionID
			if _, err := r.Status(ctx, id); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
				t.Fatalf("status before submit: %v, want not found", err)
			}
			for range 3 { // a replayed submit enqueues nothing more
				if err := r.Submit(ctx, d, req); err != nil {
					t.Fatal(err)
				}
			}
			entries, err := rdb.XRange(ctx, pxKeys.Queue(runnerqueue.ShardOf(id)), "-", "+").Result()
			if err != nil || len(entries) != 1 {
				t.Fatalf("queue = %v, %v; want one entry", entries, err)
			}
			fields := entries[0].Values
			var payload struct {
				DeliberationID string                 `json:"deliberation_id"`
				Policy         deliberation.JobPolicy `json:"policy"`
			}
			if fields["attempt"] != id || fields["callback"] != "http://status.local/" ||
				json.Unmarshal([]byte(fields["request"].(string)), &payload) != nil || payload.DeliberationID != d.ID ||
				!slices.Equal(payload.Policy.AllowedOrigins, []string{"*"}) || payload.Policy.MaxAnswerBytes != deliberation.DefaultMaxAnswerBytes {
				t.Fatalf("entry = %v", fields)
			}
			if ttl := rdb.PTTL(ctx, pxKeys.Attempt(id)).Val(); ttl < 61*time.Minute || ttl > 63*time.Minute {
				t.Fatalf("marker ttl = %v, want the deadline plus an hour", ttl)
			}
			wantState(t, r, id, deliberation.JobPending)
			if err := r.Delete(ctx, id); deliberation.ErrorCode(err) != deliberation.CodeConflict {
				t.Fatalf("delete while pending: %v, want conflict", err)
			}

			// The runner takes it.
			rdb.HSet(ctx, pxKeys.Attempt(id), "state", "RUNNING", "started_at", "1700000000000")
			if st := wantState(t, r, id, deliberation.JobRunning); !st.StartTime.Equal(time.UnixMilli(1700000000000)) {
				t.Fatalf("start time = %v", st.StartTime)
			}
			// It stores its record.
			record := `{"state":"SUCCEEDED","infrastructure":false,"start_time":1700000000000,"end_time":1700000002500,
				"result":{"agent_results":[{"agent_id":"a1","proposal":"p","reasoning":"","score":0.5,"metadata":{}}],
				"failures":[],"total_agents":1,"completed_agents":1,"failed_agents":0,"scoring_error":""}}`
			rdb.Set(ctx, pxKeys.Result(id), record, time.Hour)
			st := wantState(t, r, id, deliberation.JobSucceeded)
			if st.EndTime.Sub(st.StartTime) != 2500*time.Millisecond || st.Infrastructure {
				t.Fatalf("status = %+v", st)
			}
			res, err := r.Result(ctx, id)
			if err != nil || res.CompletedAgents != 1 || res.BestResult == nil || res.BestResult.AgentID != "a1" {
				t.Fatalf("result = %+v, %v", res, err)
			}
			if err := r.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if n := rdb.Exists(ctx, pxKeys.Attempt(id), pxKeys.Result(id)).Val(); n != 0 {
				t.Fatalf("%d keys left after delete", n)
			}
		})
	}
}

func wantState(t *testing.T, r *runnerqueue.Queue, id string, want deliberation.JobState) (st struct {
	StartTime, EndTime time.Time
	Infrastructure     bool
}) {
	t.Helper()
	got, err := r.Status(context.Background(), id)
	if err != nil || got.State != want {
		t.Fatalf("status = %+v, %v; want %s", got, err, want)
	}
	st.StartTime, st.EndTime, st.Infrastructure = got.StartTime, got.EndTime, got.Infrastructure
	return st
}

// TestRunnerStopAndRefusals: a stopped attempt stays stopped, records are checked, and an
// unreachable Redis is "unavailable" (the deliberation stays accepted and is enqueued later).
func TestRunnerStopAndRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	r, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "px"})
	if err != nil {
		t.Fatal(err)
	}
	d, req := raycontract.Deliberation(t)
	if err := r.Stop(ctx, d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("stop before submit: %v", err)
	}
	if err := r.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx, d.SubmissionID); err != nil {
		t.Fatal(err)
	}
	wantState(t, r, d.SubmissionID, deliberation.JobStopped)
	if err := r.Submit(ctx, d, req); err != nil { // a late replay does not revive it
		t.Fatal(err)
	}
	wantState(t, r, d.SubmissionID, deliberation.JobStopped)

	// The marker expires before the runner's record (an hour after the deadline, against a day):
	// the attempt is still known, so a stop answers as for any ended attempt.
	ended, _ := raycontract.Deliberation(t)
	rdb.Set(ctx, pxKeys.Result(ended.SubmissionID), `{"state":"FAILED","result":{}}`, time.Hour)
	if err := r.Stop(ctx, ended.SubmissionID); err != nil {
		t.Fatalf("stop of an ended attempt whose marker expired: %v, want nil", err)
	}

	rdb.Set(ctx, pxKeys.Result(d.SubmissionID), `{"state":"DONE"}`, time.Hour)
	if _, err := r.Status(ctx, d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeInternal {
		t.Fatalf("a record with an unknown state: %v, want internal", err)
	}
	if _, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "px", CallbackURL: "http://user:pw@host/"}); err == nil {
		t.Fatal("a callback URL with credentials was accepted")
	}
	mini.Close()
	if err := r.Submit(ctx, d, req); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("submit with Redis down: %v, want unavailable", err)
	}
}

// TestListForgetsExpiredAttempts: the index keeps an attempt only while its marker lives, so
// List stays bounded by the attempts of the last deadline plus linger.
func TestListForgetsExpiredAttempts(t *testing.T) {
	t.Parallel()
	for name, rdb := range runnerServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			prefix := uniqueID("expiry")
			r, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Linger: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			live, req := raycontract.Deliberation(t)
			// A deliberation whose deadline and linger passed long ago: its marker expires at once.
			old := deliberation.New(deliberation.NewID(), req, time.Now().Add(-time.Hour))
			for _, d := range []deliberation.Deliberation{old, live} {
				if err := r.Submit(ctx, d, req); err != nil {
					t.Fatal(err)
				}
			}
			attempts, err := r.List(ctx)
			if err != nil || len(attempts) != 1 || attempts[0].SubmissionID != live.SubmissionID {
				t.Fatalf("List = %+v, %v; want only the live attempt", attempts, err)
			}
			keys, n := runnerqueue.NewKeys(prefix), int64(0)
			for s := range runnerqueue.Shards {
				n += rdb.ZCard(ctx, keys.Index(s)).Val()
			}
			if n != 1 {
				t.Fatalf("the index holds %d attempts after List, want the live one", n)
			}
		})
	}
}
