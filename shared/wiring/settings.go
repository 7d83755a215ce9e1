package wiring

import (
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// serveCheckPeriod is the least time between two checks of one deliberation in the serve dispatch.
const serveCheckPeriod = 100 * time.Millisecond

// limits are the admission rules of the configuration; the adapters send their job policy with
// every request, so what execute admits and what the job enforces come from one place.
func limits(c config.Config) deliberation.Limits {
	return deliberation.Limits{MaxAgents: c.MaxAgents, Allowlist: c.Allowlist, MaxAnswerBytes: c.MaxAnswerBytes,
		Pools: c.Ray.Pools(), PoolModels: c.Ray.PoolModels}
}

// settings are the use cases' rules: the defaults with the configured limits applied. The
// timeouts and periods no environment variable sets (submit, delete, repair age, deadline grace,
// reconcile budget, wake-ups) keep app.DefaultSettings.
func settings(c config.Config) app.Settings {
	s := app.DefaultSettings()
	s.Limits = limits(c)
	s.MaxActive = c.MaxActiveDeliberations
	s.MaxQueueLag = int64(c.MaxRunnerQueueLag)
	s.PendingLimit = c.PendingLimit
	if c.Ray.Dispatch == config.DispatchServe {
		// A status check reads the runner's record in Redis, not Ray: it can be frequent.
		s.CheckPeriod = serveCheckPeriod
	}
	return s
}

// streamBound is the hard bound on the runners' stream: twice MAX_RUNNER_QUEUE_LAG (the soft bound
// on entries no runner read, which execute checks first; the rest room for those being run), or
// 20,000 without one. At up to 100 KiB a request, it bounds what the stream can take of Redis. The
// queue spreads it evenly over its shards, and attempts hash unevenly: so each shard may hold at
// least that twice-the-soft-bound (up to 64), or a small soft bound would refuse an attempt of a
// shard that others left empty before the soft bound is reached.
func streamBound(c config.Config) int64 {
	if c.MaxRunnerQueueLag <= 0 {
		return 20000
	}
	total := 2 * int64(c.MaxRunnerQueueLag)
	return max(total, int64(runnerqueue.Shards)*min(total, 64))
}
