//go:build faults

package faults

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/config"
)

// step is one fault action at a fraction of the load's duration.
type step struct {
	at   float64
	name string
	do   func(t *testing.T, s *stack)
}

// Outages are short next to a deliberation's timeout, and long enough for every client to notice:
// Redis stays down past go-redis's own retries, NATS past its reconnect wait.
const (
	redisDown = 3 * time.Second
	rayDown   = 8 * time.Second
)

// schedule staggers the faults over the load, and overlaps two of them at the end: Redis dies
// while NATS is away, so the events of transitions recorded just before the crash must come out
// of the outbox after both are back.
var jobsSchedule = []step{
	{0.10, "SIGKILL redis-server, restart it", killRedis},
	{0.22, "cut NATS", func(t *testing.T, s *stack) { s.nats.Stop() }},
	{0.34, "NATS back", func(t *testing.T, s *stack) { s.nats.Restart(t) }},
	{0.42, "stop the Ray head, start it again", restartRay},
	{0.66, "SIGKILL redis-server, restart it", killRedis},
	{0.76, "cut NATS", func(t *testing.T, s *stack) { s.nats.Stop() }},
	{0.82, "SIGKILL redis-server while NATS is cut, restart it", killRedis},
	{0.90, "NATS back", func(t *testing.T, s *stack) { s.nats.Restart(t) }},
}

// serveSchedule is the same for the serve dispatch, with the runner's own faults: its replica is
// SIGKILLed twice (once while Redis is down, so its attempts are also in flight there), and the
// Ray restart takes the Serve application with it until it is deployed again.
var serveSchedule = []step{
	{0.10, "SIGKILL redis-server, restart it", killRedis},
	{0.18, "SIGKILL the runner replica", killRunnerReplica},
	{0.26, "cut NATS", func(t *testing.T, s *stack) { s.nats.Stop() }},
	{0.34, "NATS back", func(t *testing.T, s *stack) { s.nats.Restart(t) }},
	{0.42, "stop the Ray head, start it again, deploy the runner", restartRay},
	{0.58, "SIGKILL the runner replica and redis-server, restart Redis", func(t *testing.T, s *stack) {
		killRunnerReplica(t, s)
		killRedis(t, s)
	}},
	{0.66, "SIGKILL redis-server, restart it", killRedis},
	{0.76, "cut NATS", func(t *testing.T, s *stack) { s.nats.Stop() }},
	{0.82, "SIGKILL redis-server while NATS is cut, restart it", killRedis},
	{0.90, "NATS back", func(t *testing.T, s *stack) { s.nats.Restart(t) }},
}

// failoverSchedule is the Sentinel and Cluster scenarios' (FAULTS_REDIS): only Redis fails, three
// times, its primary SIGKILLed (on Cluster each time another shard's), far enough apart that each
// failover is over, and the old primary back as a replica, before the next kill.
var failoverSchedule = []step{
	{0.15, "SIGKILL the Redis primary, restart it once a replica took over", killPrimary},
	{0.45, "SIGKILL the Redis primary, restart it once a replica took over", killPrimary},
	{0.75, "SIGKILL the Redis primary, restart it once a replica took over", killPrimary},
}

func killPrimary(t *testing.T, s *stack) {
	took := s.redis.killPrimary(t)
	s.failovers = append(s.failovers, took)
	t.Logf("a new primary after %s", took.Round(100*time.Millisecond))
}

func killRedis(t *testing.T, s *stack) {
	s.redis.single.Kill()
	time.Sleep(redisDown)
	s.redis.single.Restart(t)
}

// restartRay loses every job the head held: the service must resubmit them as infrastructure
// losses, and submit the ones it accepted meanwhile. It waits (briefly) for the head to hold jobs,
// so the restart always has some to lose.
func restartRay(t *testing.T, s *stack) {
	if s.dispatch == "jobs" {
		s.ray.waitBusy(t, 60*time.Second)
	}
	s.ray.Stop(t)
	time.Sleep(rayDown)
	s.ray.Start(t)
	if s.dispatch == "serve" {
		deployRunner(t, s, s.ray)
	}
}

// runFaults plays the schedule over a load of length d that began at start. It runs on the test's
// goroutine: a fault that cannot be undone fails the test at once.
func runFaults(t *testing.T, s *stack, start time.Time, d time.Duration) {
	schedule := jobsSchedule
	switch {
	case s.redis.mode != config.RedisStandalone:
		schedule = failoverSchedule
	case len(s.rays) > 1:
		schedule = clustersSchedule
	case s.dispatch == "serve":
		schedule = serveSchedule
	}
	for _, st := range schedule {
		time.Sleep(time.Until(start.Add(time.Duration(st.at * float64(d)))))
		began := time.Now()
		st.do(t, s)
		t.Logf("fault at %5.1fs: %s (%s)", began.Sub(start).Seconds(), st.name, time.Since(began).Round(time.Millisecond))
	}
}
