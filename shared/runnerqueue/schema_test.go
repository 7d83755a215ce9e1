package runnerqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// queueContract is shared/rayjob/contract/runner_queue.json, the one definition of the queue the
// Python runner reads too.
type queueContract struct {
	Group         string            `json:"group"`
	Shards        int               `json:"shards"`
	DefaultPool   string            `json:"default_pool"`
	ShardExamples map[string]int    `json:"shard_examples"`
	Keys          map[string]string `json:"keys"`
	EntryFields   []string          `json:"entry_fields"`
	TraceFields   []string          `json:"entry_trace_fields"`
	AttemptFields []string          `json:"attempt_fields"`
	AttemptStates []string          `json:"attempt_states"`
	ResultFields  []string          `json:"result_fields"`
	ResultStates  []string          `json:"result_states"`
}

func readQueueContract(t *testing.T) queueContract {
	t.Helper()
	raw, err := os.ReadFile("../rayjob/contract/runner_queue.json")
	if err != nil {
		t.Fatal(err)
	}
	var c queueContract
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// TestQueueFollowsItsContract enqueues an attempt and compares every key, field and state the
// adapter writes or reads with the contract file.
func TestQueueFollowsItsContract(t *testing.T) {
	t.Parallel()
	c := readQueueContract(t)
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	t.Cleanup(func() { rdb.Close() })
	q, err := New(rdb, Config{Prefix: "px", CallbackURL: "http://status.local/"})
	if err != nil {
		t.Fatal(err)
	}
	const id = "delib-x-a1"
	expand := func(name string) string {
		return strings.NewReplacer("<prefix>", "px", "<attempt>", id, "<shard>", fmt.Sprintf("%02d", ShardOf(id))).Replace(c.Keys[name])
	}
	if c.Group != runnerGroup {
		t.Errorf("Lag reads the group %q, the contract names %q", runnerGroup, c.Group)
	}
	shard := ShardOf(id)
	keys := map[string]string{"queue": q.keys.Queue(shard), "attempt": q.attemptKey(id), "result": q.resultKey(id),
		"index": q.keys.Index(shard), "replicas": q.keys.Replicas(), "layout": q.keys.Layout(),
		"pool_queue": q.keys.PoolQueue(shard, "gpu-a"), "clusters": q.keys.Clusters()}
	if len(keys) != len(c.Keys) {
		t.Fatalf("the adapter has keys %v, the contract %v", keys, c.Keys)
	}
	for name, key := range keys {
		if want := strings.ReplaceAll(expand(name), "<pool>", "gpu-a"); key != want {
			t.Errorf("key %s = %q, the contract says %q", name, key, want)
		}
	}
	// The default pool keeps the stream of before pools; the runner's tests check the same.
	if c.DefaultPool != deliberation.DefaultPool || q.keys.PoolQueue(shard, c.DefaultPool) != expand("queue") ||
		q.keys.PoolQueue(shard, "") != expand("queue") {
		t.Errorf("the default pool %q (the contract's %q) is queued on %q, the contract says %q",
			deliberation.DefaultPool, c.DefaultPool, q.keys.PoolQueue(shard, c.DefaultPool), expand("queue"))
	}

	timeout := 60
	req, err := deliberation.NewRequest(deliberation.RequestInput{TaskID: "t", TaskDescription: "d", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s", TimeoutSeconds: &timeout},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m"}}, VLLMURL: "http://vllm:8000", VLLMModel: "j",
	}, deliberation.Limits{Allowlist: deliberation.AllowAny(nil)})
	if err != nil {
		t.Fatal(err)
	}
	d := deliberation.New("delib-x", req, time.Now().UTC())
	d.SubmissionID = id
	// Enqueued under a caller's trace, so the entry has every field it can have.
	ctx := withRemoteTrace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736", "vendor=x")
	if err := q.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	written := sorted(mini.Keys())
	if want := sorted([]string{expand("queue"), expand("attempt"), expand("index"), expand("layout")}); !slices.Equal(written, want) {
		t.Errorf("an enqueue writes %v, want %v", written, want)
	}
	entries, err := rdb.XRange(ctx, q.keys.Queue(shard), "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream entries %v, %v", entries, err)
	}
	if got, want := sorted(slices.Collect(maps.Keys(entries[0].Values))), sorted(append(c.EntryFields, c.TraceFields...)); !slices.Equal(got, want) {
		t.Errorf("entry fields %v, the contract says %v", got, want)
	}
	marker, err := rdb.HGetAll(ctx, q.attemptKey(id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields := append(slices.Collect(maps.Keys(marker)), markerFields...)
	if got := sorted(fields); !slices.Equal(got, sorted(c.AttemptFields)) {
		t.Errorf("attempt fields written and read %v, the contract says %v", got, c.AttemptFields)
	}
	if got := []string{runnerPending, runnerRunning, runnerStopped}; !slices.Equal(sorted(got), sorted(c.AttemptStates)) {
		t.Errorf("attempt states %v, the contract says %v", got, c.AttemptStates)
	}
	var resultFields []string
	rt := reflect.TypeFor[runnerRecord]()
	for i := range rt.NumField() {
		resultFields = append(resultFields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	if !slices.Equal(sorted(resultFields), sorted(c.ResultFields)) {
		t.Errorf("result fields %v, the contract says %v", resultFields, c.ResultFields)
	}
	for _, st := range c.ResultStates {
		if _, err := decodeRecord("record", []byte(`{"state":"`+st+`"}`)); err != nil {
			t.Errorf("a record in state %s is refused: %v", st, err)
		}
	}
	if _, err := decodeRecord("record", []byte(`{"state":"RUNNING"}`)); err == nil {
		t.Error("a record in a state outside the contract is accepted")
	}
}

// TestShardsFollowTheContract: the shard count is the contract's, an id's shard is the one its
// examples give (the runner's tests check the same examples), every shard's keys share one tag
// of their own, and ids spread over every shard.
func TestShardsFollowTheContract(t *testing.T) {
	t.Parallel()
	c := readQueueContract(t)
	if Shards != c.Shards || Shards < 2 {
		t.Fatalf("Shards = %d, the contract says %d", Shards, c.Shards)
	}
	if len(c.ShardExamples) == 0 {
		t.Fatal("the contract gives no shard examples")
	}
	for id, want := range c.ShardExamples {
		if got := ShardOf(id); got != want {
			t.Errorf("ShardOf(%q) = %d, the contract says %d", id, got, want)
		}
	}
	k := NewKeys("px")
	seen := map[string]bool{}
	for s := range Shards {
		tag := fmt.Sprintf("{runner:s%02d}", s)
		for _, key := range []string{k.Queue(s), k.Index(s)} {
			if !strings.Contains(key, tag) {
				t.Errorf("key %s of shard %d lacks its tag %s", key, s, tag)
			}
		}
		seen[tag] = true
	}
	hit := map[int]int{}
	for i := range 800 {
		hit[ShardOf(fmt.Sprintf("delib-%d-a1", i))]++
	}
	for s := range Shards {
		if hit[s] < 800/Shards/2 {
			t.Errorf("shard %d got %d of 800 ids: the spread is uneven (%v)", s, hit[s], hit)
		}
	}
}
