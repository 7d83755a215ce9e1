//go:build faults

package faults

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// The load's defaults. A 2-core machine runs 10-20 real Ray jobs at once but starts only about
// 0.3 a second (every job starts Python worker processes of its own, and the CPU is the limit):
// the load stays under that, so the backlog of a Ray restart drains before the deadlines, and the
// whole suite, Ray's start-ups and the settling included, stays under about 8 minutes.
const (
	defaultLoadSeconds = 150
	defaultRate        = 0.2
	reconcileTick      = 5 * time.Second
)

// The failover scenarios (FAULTS_REDIS=sentinel or cluster): 90 s at the serve rate is some 450
// executes, of which at least 300 must make a deliberation; writes may not be unavailable longer.
const (
	failoverLoadSeconds      = 90
	minFailoverDeliberations = 300
	failoverWindowLimit      = 30 * time.Second
)

// serveRate is the serve dispatch's default load: warm replicas start no process per
// deliberation, so the machine takes far more.
const serveRate = 5

// TestFaults is the fault suite (docs/development.md): faults under load, then the invariants of
// docs/state.md. It builds only with the `faults` tag (make test-faults); FAULTS_SECONDS and
// FAULTS_RATE change the load's length and executes/s.
func TestFaults(t *testing.T) {
	seconds := float64(defaultLoadSeconds)
	if redisMode(t) != config.RedisStandalone {
		seconds = failoverLoadSeconds
	}
	loadFor := time.Duration(envNumber(t, "FAULTS_SECONDS", seconds) * float64(time.Second))
	rate := defaultRate
	if dispatch(t) == "serve" {
		rate = serveRate
	}
	rate = envNumber(t, "FAULTS_RATE", rate)
	began := time.Now()
	s := startStack(t)
	t.Logf("stack up in %s; %s dispatch on Redis %s, %d Ray cluster(s); load: %.1f executes/s for %s", time.Since(began).Round(time.Second), s.dispatch, s.redis.mode, len(s.rays), rate, loadFor)

	c := newClient()
	led := &ledger{}
	mon := startMonitor(c, s, led, reconcileTick)
	t.Cleanup(mon.close)
	ld := &load{t: t, c: c, executeURL: s.execute.URL, statusURL: s.status.URL, modelURL: s.model.URL(), ledger: led,
		writes: &availability{}}
	loadStart := time.Now()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		ld.run(t.Context(), rate, loadFor)
	}()
	// Should the test stop early, the load ends (its context is the test's) before the servers
	// it talks to go.
	t.Cleanup(func() {
		<-sent
		ld.wait()
	})
	runFaults(t, s, loadStart, loadFor)
	<-sent
	ld.wait()
	byVia, answers := led.counts()
	accepted := led.accepted()
	t.Logf("load done at %s: %v executes, %d answers naming %d deliberations, %d keyless without an answer",
		time.Since(loadStart).Round(time.Second), byVia, answers, len(accepted), led.ambiguous)

	if left := waitTerminal(t.Context(), c, s.status.URL, accepted); len(left) > 0 {
		t.Logf("%d deliberations not terminal after their deadlines: %v", len(left), left)
	}
	rdb := s.redis.client(t)
	defer rdb.Close()
	stored := storedEntries(t, rdb)
	ids := make([]string, 0, len(stored))
	for id := range stored {
		ids = append(ids, id)
	}
	events := newConsumer(t, s.nats.URL()).readUntil(t.Context(), ids, time.Minute)
	if s.dispatch == "serve" {
		if left, err := waitQueueDrained(t.Context(), rdb, 2*time.Minute); err != nil || left > 0 {
			t.Errorf("the runners' queue still holds %d attempts of finished deliberations (%v)", left, err)
		}
	} else if running, pending, err := waitRayIdle(t.Context(), s.ray.Address, 2*time.Minute); err != nil || len(running) > 0 {
		t.Errorf("Ray still runs jobs of finished deliberations: %v (%v)", running, err)
	} else if len(pending) > 0 {
		t.Logf("Ray has not yet started (so not yet stopped) the jobs the service stopped: %v", pending)
	}
	mon.close()
	t.Logf("settled at %s; monitor: %s", time.Since(loadStart).Round(time.Second), mon.report())

	v := judge(t, c, s, led, mon, stored, events)
	for _, r := range v.reasons {
		t.Error(r)
	}
	// The closing line is the suite's result for humans and CI logs, so it goes to stdout as is.
	fmt.Println(v.line())
	if v.lost > 0 || v.countedTwice > 0 || v.duplicates > 0 {
		t.Errorf("%s", v.line())
	}
	if len(s.rays) > 1 && v.deliberations < minFailoverDeliberations {
		t.Errorf("%d deliberations, want at least %d: raise FAULTS_SECONDS or FAULTS_RATE", v.deliberations, minFailoverDeliberations)
	}
	if s.redis.mode != config.RedisStandalone {
		fmt.Println(ld.writes.report(s.redis.mode, s.failovers))
		judgeFailovers(t, v, s, ld.writes)
	}
	t.Logf("suite took %s", time.Since(began).Round(time.Second))
}

// judge checks everything the scenario must have kept true and returns the closing line's numbers.
func judge(t *testing.T, c *client, s *stack, led *ledger, mon *monitor, stored map[string]deliberation.Deliberation, events *eventLog) verdict {
	t.Helper()
	accepted := led.accepted()
	var v verdict
	v.deliberations = len(stored)
	final := v.judgeLost(t.Context(), c, s.status.URL, accepted)
	orphans := 0
	for id, d := range stored {
		if _, ok := accepted[id]; !ok {
			orphans++
			final[id] = d.Status
			if !d.Status.Terminal() {
				v.lost++
				v.because("unanswered deliberation %s is still %s", id, d.Status)
			}
		}
	}
	// Only a keyless execute whose answer was lost in a crash may have made a deliberation no
	// caller heard of; any other is a duplicate the idempotency keys should have prevented.
	if orphans > led.ambiguous {
		v.countedTwice += orphans - led.ambiguous
		v.because("Redis holds %d deliberations no caller was answered, but only %d executes went unanswered", orphans, led.ambiguous)
	}
	st, a := c.stats(t.Context(), s.stats.URL)
	if a.err != nil || a.bad != nil || a.status != 200 {
		t.Fatalf("final stats: %d %v %v", a.status, a.err, a.bad)
	}
	statsProblems, pollProblems := mon.problems()
	v.judgeCounts(st, stored, len(statsProblems))
	v.judgeEvents(events, final)
	for _, p := range append(append(statsProblems, pollProblems...), led.replayProblems()...) {
		v.because("%s", p)
	}
	cancels := judgeCancels(&v, led.cancelled(), final)
	resubmitted := 0
	for _, d := range stored {
		if d.Attempts > 1 {
			resubmitted++
		}
	}
	// The Ray restart lost the jobs that were running: unless some were resubmitted, the fault
	// did not test what it is there for.
	if resubmitted == 0 && s.dispatch == "jobs" {
		v.because("no deliberation needed a second Ray attempt: the Ray restart lost no job")
	}
	// A function must survive every fault.
	for _, f := range s.functions() {
		if f.proc.Exited() {
			v.because("function %s exited during the run", f.name)
		}
	}
	t.Logf("outcome: %d stored, %d orphans of %d unanswered keyless executes, %d resubmitted after Ray lost their job; cancels answered %v; stats %+v%s",
		len(stored), orphans, led.ambiguous, resubmitted, cancels, st.Stats, outcomes(stored, accepted))
	return v
}

// judgeFailovers checks what the failover scenarios promise beyond the invariants: enough
// deliberations for the figures to mean something, every kill failed over, and writes back well
// within a failover's time (the goal is 10 s with down-after-milliseconds 5000; failing only past
// failoverWindowLimit leaves room for a machine the suite keeps busy).
func judgeFailovers(t *testing.T, v verdict, s *stack, writes *availability) {
	if v.deliberations < minFailoverDeliberations {
		t.Errorf("%d deliberations, want at least %d: raise FAULTS_SECONDS or FAULTS_RATE", v.deliberations, minFailoverDeliberations)
	}
	if len(s.failovers) != len(failoverSchedule) {
		t.Errorf("%d failovers, want %d", len(s.failovers), len(failoverSchedule))
	}
	if w := writes.window(); w > failoverWindowLimit {
		t.Errorf("writes were unavailable for %s at once, over %s", w.Round(100*time.Millisecond), failoverWindowLimit)
	}
}

// envNumber reads a positive number from the environment, or returns def.
func envNumber(t *testing.T, name string, def float64) float64 {
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.ParseFloat(raw, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s must be a positive number, got %q", name, raw)
	}
	return n
}
