package main

import (
	"fmt"
	"strings"
	"time"
)

// maxReplicas is the most replicas Serve ran at once.
func (a *autoscaleResult) maxReplicas() int {
	m := 0
	for _, s := range a.samples {
		m = max(m, s.running)
	}
	return m
}

// series is the replica count over time, compact: each change of the running replicas (and of
// Serve's target, when they differ) with its second, relative to the burst's first submit.
func (a *autoscaleResult) series() string {
	var parts []string
	last := ""
	for _, s := range a.samples {
		v := fmt.Sprint(s.running)
		if s.target != s.running {
			v += fmt.Sprintf("→%d", s.target)
		}
		if v != last {
			parts = append(parts, fmt.Sprintf("%+ds: %s", int(s.at.Round(time.Second).Seconds()), v))
			last = v
		}
	}
	return strings.Join(parts, ", ")
}

// peakLag is the most entries the queue held undelivered at a sample.
func (a *autoscaleResult) peakLag() int64 {
	var m int64
	for _, s := range a.samples {
		m = max(m, s.lag)
	}
	return m
}

// lost are deliberations the burst submitted that never finished.
func (a *autoscaleResult) lost() int { return max(a.n-a.completed-a.failed, 0) }

// ranTwice are deliberations run to their end more than once: every run to the end calls the
// judge once, so judge calls beyond the deliberations finished are repeated runs.
func (a *autoscaleResult) ranTwice() int { return max(a.judgeCalls-a.completed, 0) }

func (a *autoscaleResult) header() []string {
	return []string{fmt.Sprintf("autoscaling (%d deliberations x 3 agents at L = %s, %d to %d replicas of %d)",
		a.n, a.latency, a.bounds.MinReplicas, a.bounds.MaxReplicas, autoscalePerReplica), "measured", "target"}
}

func (a *autoscaleResult) rows() [][]string {
	duration := func(d time.Duration) string {
		if d == 0 {
			return "not within the limit"
		}
		return seconds(d.Seconds())
	}
	return [][]string{
		{"replicas over time (running→target, s from the burst)", a.series(), ""},
		{"replicas, most at once", fmt.Sprintf("%d of %d", a.maxReplicas(), a.bounds.MaxReplicas),
			fmt.Sprintf("> %d: %s", a.bounds.MinReplicas, met(a.maxReplicas() > a.bounds.MinReplicas))},
		{"queue's lag, peak (entries undelivered)", fmt.Sprint(a.peakLag()), ""},
		{"burst drained (first submit to every deliberation finished)", duration(a.drained), ""},
		{"back to the minimum (after the drain)", duration(a.settled), "reached: " + met(a.settled > 0)},
		{"completed (failed) / lost", fmt.Sprintf("%d (%d) / %d", a.completed, a.failed, a.lost()), "0 lost: " + met(a.lost() == 0)},
		{"run twice to completion", fmt.Sprint(a.ranTwice()), "0: " + met(a.ranTwice() == 0)},
		{"queue entries redelivered", fmt.Sprint(a.redelivered), ""},
	}
}

func (a *autoscaleResult) notes() []string {
	return []string{
		fmt.Sprintf("Autoscaling: the runner deployed with its queue policy (autoscaling:queue_app_policy, docs/ray.md) between %d and %d replicas of max_deliberations %d, "+
			"upscale delay %s, downscale delay %s, on a Ray head of its own; idle for %s, then %d callers POST a burst of %d deliberations to execute-deliberation, "+
			"then idle until Serve runs the minimum again. Serve's replicas (GET /api/serve/applications/), the group's lag and its pending entries (XINFO GROUPS, XPENDING) "+
			"are sampled every %s. Run twice to completion: judge calls beyond the deliberations completed; redelivered: entries XPENDING showed delivered more than once.",
			a.bounds.MinReplicas, a.bounds.MaxReplicas, autoscalePerReplica, a.bounds.UpscaleDelay, a.bounds.DownscaleDelay, autoscaleIdle, capacitySubmitters, a.n, autoscaleEvery),
		"The replicas rise only when the runner reports record_autoscaling_stats (runner_in_flight, runner_queue_lag, runner_capacity): a runner without them stays at the minimum.",
	}
}
