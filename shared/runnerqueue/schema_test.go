package runnerqueue

import (
	"context"
	"encoding/json"
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
		return strings.NewReplacer("<prefix>", "px", "<attempt>", id).Replace(c.Keys[name])
	}
	if c.Group != runnerGroup {
		t.Errorf("Lag reads the group %q, the contract names %q", runnerGroup, c.Group)
	}
	keys := map[string]string{"queue": q.queueKey(), "attempt": q.attemptKey(id), "result": q.resultKey(id), "index": q.indexKey(), "replicas": q.replicasKey()}
	if len(keys) != len(c.Keys) {
		t.Fatalf("the adapter has keys %v, the contract %v", keys, c.Keys)
	}
	for name, key := range keys {
		if want := expand(name); key != want {
			t.Errorf("key %s = %q, the contract says %q", name, key, want)
		}
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
	if want := sorted([]string{expand("queue"), expand("attempt"), expand("index")}); !slices.Equal(written, want) {
		t.Errorf("an enqueue writes %v, want %v", written, want)
	}
	entries, err := rdb.XRange(ctx, q.queueKey(), "-", "+").Result()
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
