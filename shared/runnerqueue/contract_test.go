package runnerqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// queueKeys are the key templates of shared/rayjob/contract/runner_queue.json: the drivers write
// the keys where the runner would.
var queueKeys = sync.OnceValues(func() (map[string]string, error) {
	raw, err := os.ReadFile("../rayjob/contract/runner_queue.json")
	if err != nil {
		return nil, err
	}
	var c struct {
		Keys map[string]string `json:"keys"`
	}
	return c.Keys, json.Unmarshal(raw, &c)
})

func runnerKey(t *testing.T, name, prefix, attempt string) string {
	t.Helper()
	keys, err := queueKeys()
	if err != nil || keys[name] == "" {
		t.Fatalf("key %s of the queue contract: %v", name, err)
	}
	shard := fmt.Sprintf("%02d", runnerqueue.ShardOf(attempt))
	return strings.NewReplacer("<prefix>", prefix, "<attempt>", attempt, "<shard>", shard).Replace(keys[name])
}

// startScript is what the runner runs when it takes an attempt, on its cluster ARGV[2] (START_SCRIPT in
// shared/rayjob/runner_queue.py).
var startScript = redis.NewScript(startSource)

const startSource = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'PENDING' and state ~= 'RUNNING' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'RUNNING', 'cluster', ARGV[2])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
return 1
`

// queueHarness is the queue on rdb, its attempts driven by writing the keys as the runner does.
func queueHarness(rdb redis.UniversalClient) raycontract.Harness {
	return raycontract.Harness{Within: 5 * time.Second, New: func(t *testing.T) raycontract.Adapter {
		prefix := uniqueID("contract")
		q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: raycontract.Limits.JobPolicy()})
		if err != nil {
			t.Fatal(err)
		}
		var started sync.Map // submission id -> start, unix ms
		return raycontract.Adapter{Port: q,
			Start: func(t *testing.T, d deliberation.Deliberation) {
				now := time.Now().UnixMilli()
				ok, err := startScript.Run(context.Background(), rdb, []string{runnerKey(t, "attempt", prefix, d.SubmissionID)}, now, "ray-1").Int()
				if err != nil || ok != 1 {
					t.Fatalf("the runner cannot start %s: %d, %v", d.SubmissionID, ok, err)
				}
				started.Store(d.SubmissionID, now)
			},
			Finish: func(t *testing.T, d deliberation.Deliberation, succeeded bool) {
				start, _ := started.Load(d.SubmissionID)
				state, result := deliberation.JobSucceeded, raycontract.ResultJSON
				if !succeeded {
					state = deliberation.JobFailed
					result = `{"agent_results":[],"failures":[{"agent_id":"a1","error":"x"},{"agent_id":"a2","error":"y"}],` +
						`"total_agents":2,"completed_agents":0,"failed_agents":2,"scoring_error":""}`
				}
				record, _ := json.Marshal(map[string]any{"state": state, "infrastructure": false, "start_time": start,
					"end_time": time.Now().UnixMilli(), "result": json.RawMessage(result)})
				if err := rdb.SetNX(context.Background(), runnerKey(t, "result", prefix, d.SubmissionID), record, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}}
	}}
}

func TestQueueContract(t *testing.T) {
	t.Parallel()
	for name, rdb := range runnerServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raycontract.Run(t, queueHarness(rdb))
		})
	}
}
