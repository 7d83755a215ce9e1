package runnerqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

func realRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestAnAttemptIsQueuedOnItsPoolsStream: a request of pool gpu goes to the gpu stream of its
// shard, the default pool's to the stream of before pools; Lag counts the pools it was given.
func TestAnAttemptIsQueuedOnItsPoolsStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := realRedis(t)
	prefix := uniqueID("pools")
	keys := runnerqueue.NewKeys(prefix)
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy(),
		Pools: []string{"default", "gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	defaultOnly, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	gpu, req := raycontract.Deliberation(t)
	req.Pool = "gpu"
	if err := q.Submit(ctx, gpu, req); err != nil {
		t.Fatal(err)
	}
	plain, plainReq := raycontract.Deliberation(t)
	if err := q.Submit(ctx, plain, plainReq); err != nil {
		t.Fatal(err)
	}
	shard := runnerqueue.ShardOf(gpu.SubmissionID)
	entries, err := rdb.XRange(ctx, keys.PoolQueue(shard, "gpu"), "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].Values["attempt"] != gpu.SubmissionID {
		t.Fatalf("the gpu stream of shard %d holds %v, %v; want the gpu attempt", shard, entries, err)
	}
	var payload struct {
		Pool string `json:"pool"`
	}
	if err := json.Unmarshal([]byte(entries[0].Values["request"].(string)), &payload); err != nil || payload.Pool != "gpu" {
		t.Errorf("the entry's request carries pool %q, %v; want gpu", payload.Pool, err)
	}
	if n, err := runnerqueue.QueueLength(ctx, rdb, keys); err != nil || n != 1 {
		t.Errorf("the default pool's streams hold %d, %v; want the plain attempt only", n, err)
	}
	if n, err := runnerqueue.QueueLength(ctx, rdb, keys, "gpu"); err != nil || n != 1 {
		t.Errorf("the gpu streams hold %d, %v; want 1", n, err)
	}
	if lag, err := q.Lag(ctx); err != nil || lag != 2 {
		t.Errorf("lag over both pools = %d, %v; want 2", lag, err)
	}
	if lag, err := defaultOnly.Lag(ctx); err != nil || lag != 1 {
		t.Errorf("lag over the default pool = %d, %v; want 1", lag, err)
	}
}

// TestStatusNamesTheClusterOfTheRecordElseTheMarker writes what the runner writes (contract:
// the marker's field cluster when it starts the attempt, the record's key cluster when it ends).
func TestStatusNamesTheClusterOfTheRecordElseTheMarker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := realRedis(t)
	prefix := uniqueID("cluster")
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	d, req := raycontract.Deliberation(t)
	if err := q.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	wantCluster := func(want, when string) {
		t.Helper()
		st, err := q.Status(ctx, d.SubmissionID)
		if err != nil || st.Cluster != want {
			t.Fatalf("cluster %s = %q (%v), want %q", when, st.Cluster, err, want)
		}
		attempts, err := q.List(ctx)
		if err != nil || len(attempts) != 1 || attempts[0].Status.Cluster != want {
			t.Fatalf("listed %s: %+v, %v; want cluster %q", when, attempts, err, want)
		}
	}
	wantCluster("", "while queued")
	marker := runnerKey(t, "attempt", prefix, d.SubmissionID)
	if err := rdb.HSet(ctx, marker, "state", "RUNNING", "started_at", time.Now().UnixMilli(), "cluster", "ray-1").Err(); err != nil {
		t.Fatal(err)
	}
	wantCluster("ray-1", "while running on ray-1")
	// Claimed by ray-2's runner after ray-1 died: its start names ray-2, its record too.
	if err := rdb.HSet(ctx, marker, "cluster", "ray-2").Err(); err != nil {
		t.Fatal(err)
	}
	record := func(cluster string) {
		t.Helper()
		rec := map[string]any{"state": deliberation.JobSucceeded, "infrastructure": false, "start_time": 1, "end_time": 2,
			"result": json.RawMessage(raycontract.ResultJSON)}
		if cluster != "" {
			rec["cluster"] = cluster
		}
		raw, _ := json.Marshal(rec)
		if err := rdb.Set(ctx, runnerKey(t, "result", prefix, d.SubmissionID), raw, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	record("ray-3")
	wantCluster("ray-3", "of a record (first, before the marker)")
	record("")
	wantCluster("ray-2", "of a record naming none (a runner before clusters): the marker's")
}

// TestWriteClustersIsWhatTheRunnerReads: one HSET of every configured cluster's state, in the
// JSON the runner's is_draining reads.
func TestWriteClustersIsWhatTheRunnerReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := realRedis(t)
	prefix := uniqueID("drain")
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.WriteClusters(ctx, []runnerqueue.ClusterState{{Name: "ray-1"}, {Name: "ray-2", Draining: true}}); err != nil {
		t.Fatal(err)
	}
	got, err := rdb.HGetAll(ctx, runnerKey(t, "clusters", prefix, "")).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ray-1": `{"draining":false}`, "ray-2": `{"draining":true}`}
	if len(got) != len(want) || got["ray-1"] != want["ray-1"] || got["ray-2"] != want["ray-2"] {
		t.Fatalf("the clusters hash holds %v, want %v", got, want)
	}
	// Undrained by the next write.
	if err := q.WriteClusters(ctx, []runnerqueue.ClusterState{{Name: "ray-2"}}); err != nil {
		t.Fatal(err)
	}
	if v := rdb.HGet(ctx, runnerKey(t, "clusters", prefix, ""), "ray-2").Val(); v != `{"draining":false}` {
		t.Errorf("ray-2 after its drain ended: %s", v)
	}
}
