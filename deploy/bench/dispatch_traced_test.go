package main

import (
	"strings"
	"testing"
	"time"
)

// TestTracedRowsJudgeTheP99: the target row compares the traced p99 with the untraced one.
func TestTracedRowsJudgeTheP99(t *testing.T) {
	t.Parallel()
	ms := func(values ...int) []time.Duration {
		out := make([]time.Duration, len(values))
		for i, v := range values {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		on   []time.Duration
		want string
	}{
		{ms(10, 20, 129), "met"},
		{ms(10, 20, 131), "MISSED"},
	} {
		r := &tracedDispatchResult{off: ms(10, 20, 100), on: c.on, runs: 3}
		rows := r.rows()
		last := rows[len(rows)-1]
		if !strings.HasSuffix(last[len(last)-1], c.want) {
			t.Errorf("p99 %v against 100 ms: %q, want %s", c.on[2], last, c.want)
		}
		if !strings.Contains(rows[1][3], "(×1.") {
			t.Errorf("the traced p99 cell %q lacks its ratio to off", rows[1][3])
		}
	}
}
