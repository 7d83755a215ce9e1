package wiring

import (
	"testing"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestStreamBoundLeavesEachShardTheSoftBound: every shard of the queue may take what the soft bound
// (MAX_RUNNER_QUEUE_LAG) lets in, even when it all hashes into one shard, while a large soft bound
// keeps the hard one at twice it.
func TestStreamBoundLeavesEachShardTheSoftBound(t *testing.T) {
	t.Parallel()
	for _, lag := range []int{1, 2, 10, 32, 100, 10000} {
		bound := streamBound(config.Config{MaxRunnerQueueLag: lag})
		perShard := (bound + int64(runnerqueue.Shards) - 1) / int64(runnerqueue.Shards)
		if lag <= 32 && perShard < int64(lag) {
			t.Errorf("lag %d: a shard holds %d, less than the soft bound", lag, perShard)
		}
		if bound < 2*int64(lag) {
			t.Errorf("lag %d: hard bound %d below twice the soft bound", lag, bound)
		}
	}
	if got := streamBound(config.Config{MaxRunnerQueueLag: 10000}); got != 20000 {
		t.Errorf("lag 10000: hard bound %d, want 20000", got)
	}
	if got := streamBound(config.Config{}); got != 20000 {
		t.Errorf("no soft bound: hard bound %d, want 20000", got)
	}
}
