package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (c *clustersResult) header() []string {
	return []string{"Ray clusters (" + thousands(c.n) + " deliberations x 3 agents, model latency " + c.latency.String() + ")",
		"wall, median", "runs", "deliberations/s", "x of one cluster", "consumers' shares of the entries (median burst)"}
}

// rows are one line per way, and the ratio of the two medians in the second.
func (c *clustersResult) rows() [][]string {
	one, two := medianDuration(c.one), medianDuration(c.two)
	row := func(name string, walls []time.Duration, med time.Duration, vs, shares string) []string {
		return []string{name, seconds(med.Seconds()), runsOf(walls), fmt.Sprintf("%.1f", float64(c.n)/med.Seconds()), vs, shares}
	}
	rows := [][]string{row("one cluster's runner", c.one, one, "×1", "100%")}
	if len(c.two) > 0 && one > 0 {
		rows = append(rows, row("two clusters' runners", c.two, two, "×"+ratio(two.Seconds()/one.Seconds()), c.medianShares()))
	}
	return rows
}

// medianShares formats the shares of the burst with the median wall time.
func (c *clustersResult) medianShares() string {
	if len(c.shares) == 0 {
		return "—"
	}
	order := make([]int, len(c.two))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(c.two[a], c.two[b]) })
	var parts []string
	for _, s := range c.shares[order[len(order)/2]] {
		parts = append(parts, fmt.Sprintf("%.0f%%", 100*s))
	}
	return strings.Join(parts, " / ")
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func runsOf(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%.1f", d.Seconds()))
	}
	return strings.Join(parts, ", ") + " s"
}

func (c *clustersResult) notes() []string {
	return []string{fmt.Sprintf("Ray clusters: two local heads (deploy/local/rayhead.sh, the bench's ports and the next ones) run all along, on the same machine; "+
		"the functions (serve dispatch, RAY_CLUSTERS listing both) enqueue the capacity scenario's burst, %d callers at a time, and it is timed from the first POST "+
		"until Redis counts every deliberation finished. First only the first cluster has the runner (one replica), then the runner is deployed on the second too "+
		"and the same bursts run again: every cluster's runner reads the one queue, so the second cluster's replica is the whole difference. "+
		"Shares: each replica's consumer's part of the queue entries seen pending (XPENDING sampled every 50 ms). "+
		"On one machine both clusters share its cores: a second cluster adds a consumer, not CPU.", capacitySubmitters)}
}
