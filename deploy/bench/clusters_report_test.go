package main

import (
	"slices"
	"testing"
	"time"
)

// TestClustersFigures: medians of each way, the ratio of two clusters' to one's, and the shares of
// the median two-cluster burst (not of the first or the last).
func TestClustersFigures(t *testing.T) {
	t.Parallel()
	s := func(secs ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range secs {
			out = append(out, time.Duration(x*float64(time.Second)))
		}
		return out
	}
	c := &clustersResult{n: 500, latency: 2 * time.Second, one: s(6, 5, 9), two: s(7, 12, 8),
		shares: [][]float64{{0.6, 0.4}, {0.9, 0.1}, {0.55, 0.45}}}
	rows := c.rows()
	want := [][]string{
		{"one cluster's runner", "6.00 s", "6.0, 5.0, 9.0 s", "83.3", "×1", "100%"},
		{"two clusters' runners", "8.00 s", "7.0, 12.0, 8.0 s", "62.5", "×1.33", "55% / 45%"},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("rows = %q, want %q", rows, want)
	}
	if rows := (&clustersResult{n: 10, one: s(3)}).rows(); len(rows) != 1 {
		t.Errorf("one way only: %q", rows)
	}
}
