package main

import (
	"fmt"
	"time"
)

// The capacity targets: the burst within 2x its floor of 2 L, with thousands of model calls in
// flight (a vLLM server batches hundreds of sequences at once), in at most 1 GiB more memory.
const (
	targetCapacityFactor = 2.0
	targetCapacityCalls  = 2000
	targetCapacityRSS    = 1 << 30
)

func (c *capacityResult) header() []string {
	return []string{"way (" + thousands(c.n) + " deliberations x 3 agents, model latency " + c.latency.String() + ")",
		"wall", "x of 2 L", "deliberations/s", "model calls in flight, peak", "runner event-loop lag p99", "peak extra RSS", "completed"}
}

// rows are each way's figures; the serve way's wall also as a ratio to the floor's, and a last row
// judges it against the targets.
func (c *capacityResult) rows() [][]string {
	floor := 2 * c.latency.Seconds()
	var rows [][]string
	for i, w := range c.ways {
		wall := seconds(w.wall.Seconds())
		if i > 0 && c.ways[0].wall > 0 {
			wall += fmt.Sprintf(" (×%s of the asyncio floor)", ratio(w.wall.Seconds()/c.ways[0].wall.Seconds()))
		}
		rows = append(rows, []string{w.name, wall, "×" + ratio(w.wall.Seconds()/floor),
			fmt.Sprintf("%.1f", float64(w.completed)/w.wall.Seconds()), thousands(w.peakCalls), loopLag(w.loopLagP99), memory(w.extraRSS),
			fmt.Sprintf("%s of %s", thousands(w.completed), thousands(c.n))})
	}
	if len(c.ways) < 2 {
		return rows
	}
	s := c.ways[len(c.ways)-1]
	return append(rows, []string{"target of the functions + runner",
		"≤ " + (time.Duration(targetCapacityFactor * 2 * float64(c.latency))).String() + ": " + met(s.wall.Seconds() <= targetCapacityFactor*floor), "", "",
		"≥ " + thousands(targetCapacityCalls) + ": " + met(s.peakCalls >= targetCapacityCalls), "",
		"≤ 1 GiB: " + met(s.extraRSS <= targetCapacityRSS), "all: " + met(s.completed == c.n)})
}

func loopLag(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func (c *capacityResult) notes() []string {
	return []string{
		fmt.Sprintf("Capacity: a burst of %s deliberations of 3 agents and a judge call, against the fake model server of internal/fakes/modelserver (in the bench process) "+
			"answering every call after %s, so the least a burst can take is 2 L = %s. The functions + Serve runner way: %d callers POST the burst to execute-deliberation "+
			"(serve dispatch, one runner replica on a local Ray head started for the scenario, max_calls and max_calls_per_origin 4,096: the fake is one origin standing in for a pool), timed from the first POST until Redis counts every deliberation finished. "+
			"The floor: deploy/bench/capacity_floor.py, one asyncio process (aiohttp, no connection limit) making the same calls with no Redis, Ray or queue, in the same run.",
			thousands(c.n), c.latency, 2*c.latency, capacitySubmitters),
		fmt.Sprintf("Model calls in flight: the most calls the fake had begun and not yet answered at one instant (each takes L). Peak extra RSS: the highest summed RSS, sampled every %d ms, "+
			"of the head's processes plus the functions or the floor's process, minus the same sum before the burst. Runner event-loop lag p99: how late a 50 ms sleep on the runner's loop woke, "+
			"p99 over its last 1,200 probes, the most of any replica, as the replicas wrote it to the runner's replicas hash after the burst.", rssSample.Milliseconds()),
	}
}
