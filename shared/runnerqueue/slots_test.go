package runnerqueue_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/slots"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestEveryQueueCallIsOneSlot runs the queue contract on a redis-server and fails when any script
// call, multi-key command or MULTI transaction (the adapter's, or the runner's start script the
// harness runs) was given keys in two hash slots: Redis Cluster would refuse it with CROSSSLOT
// (an enqueue given another shard's stream fails it). Each shard has its tag {runner:sNN}, so the
// enqueues spread over several slots.
// Every script and the delete's transaction must have run, so none escapes the check; an enqueue
// on a pool's stream (<p>:{runner:sNN}:queue:<pool>) is among them.
func TestEveryQueueCallIsOneSlot(t *testing.T) {
	t.Parallel()
	names := maps.Clone(runnerqueue.ScriptNames)
	names[startScript.Hash()], names[startSource] = "the runner's start script", "the runner's start script"
	rec := slots.NewRecorder(names)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(rec)
	t.Run("contract", func(t *testing.T) { raycontract.Run(t, queueHarness(rdb)) })
	// And an attempt of another pool than the default: its stream is beside the shard's others.
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: uniqueID("slots"), Policy: raycontract.Limits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	d, req := raycontract.Deliberation(t)
	req.Pool = "gpu"
	if err := q.Submit(context.Background(), d, req); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rec.Calls("enqueue.lua"), func(keys []string) bool { return strings.HasSuffix(keys[1], ":queue:gpu") }) {
		t.Error("no enqueue on a pool's stream was checked")
	}
	for _, name := range []string{"enqueue.lua", "stop.lua", "the runner's start script", slots.MultiName} {
		if len(rec.Calls(name)) == 0 {
			t.Errorf("the contract never ran %s: its keys went unchecked", name)
		}
	}
	for _, name := range rec.Recorded() {
		for _, keys := range rec.Calls(name) {
			if spread := slots.Group(keys); len(spread) > 1 {
				t.Fatalf("%s was given keys in %d hash slots (Redis Cluster answers CROSSSLOT): %v", name, len(spread), spread)
			}
		}
		t.Logf("%s: %d calls, each within one slot", name, len(rec.Calls(name)))
	}
	// And the queue is spread: the enqueues of the contract's attempts went to several shards.
	spread := map[int]bool{}
	for _, keys := range rec.Calls("enqueue.lua") {
		spread[slots.Of(keys[1])] = true
	}
	if len(spread) < 2 {
		t.Errorf("every enqueue went to one slot %v: the queue is not sharded", spread)
	}
}
