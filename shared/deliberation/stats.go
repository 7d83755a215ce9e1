package deliberation

import "fmt"

// ExecutionStats are the service's counters as one consistent snapshot.
type ExecutionStats struct {
	TotalDeliberations     int64   `json:"total_deliberations"`
	ActiveDeliberations    int64   `json:"active_deliberations"`
	CompletedDeliberations int64   `json:"completed_deliberations"`
	FailedDeliberations    int64   `json:"failed_deliberations"`
	AverageExecutionTimeMS float64 `json:"average_execution_time_ms"`
}

// NewExecutionStats validates the counters; timedCount is how many completions carried a Ray time.
func NewExecutionStats(total, active, completed, failed, executionTimeSumMS, timedCount int64) (ExecutionStats, error) {
	var p problems
	for _, c := range []struct {
		name string
		v    int64
	}{{"total_deliberations", total}, {"active_deliberations", active}, {"completed_deliberations", completed},
		{"failed_deliberations", failed}, {"execution_time_sum_ms", executionTimeSumMS}, {"timed_count", timedCount}} {
		if c.v < 0 {
			p.add(c.name, "%s cannot be negative, got %d", c.name, c.v)
		}
	}
	if err := p.err("invalid statistics"); err != nil {
		return ExecutionStats{}, err
	}
	s := ExecutionStats{TotalDeliberations: total, ActiveDeliberations: active,
		CompletedDeliberations: completed, FailedDeliberations: failed}
	if timedCount > 0 {
		s.AverageExecutionTimeMS = float64(executionTimeSumMS) / float64(timedCount)
	}
	return s, nil
}

// Consistent reports invariant 2 of the spec: total = active + completed + failed.
func (s ExecutionStats) Consistent() error {
	if s.TotalDeliberations != s.ActiveDeliberations+s.CompletedDeliberations+s.FailedDeliberations {
		return fmt.Errorf("total %d != active %d + completed %d + failed %d", s.TotalDeliberations,
			s.ActiveDeliberations, s.CompletedDeliberations, s.FailedDeliberations)
	}
	return nil
}

// StatsDelta is how one transition moves the counters; every store applies it in the same atomic
// step as the transition, which is what keeps invariant 2 true at every instant.
type StatsDelta struct {
	Total, Active, Completed, Failed, ExecutionTimeSumMS, TimedCount int64
}

// DeltaOf returns the counter changes of the transition from before to after (zero before: creation).
func DeltaOf(before, after Deliberation) StatsDelta {
	var d StatsDelta
	if before.ID == "" {
		d.Total, d.Active = 1, 1
	}
	if before.Status.Terminal() || !after.Status.Terminal() {
		return d
	}
	d.Active--
	if after.Status == StatusCompleted {
		d.Completed = 1
		if after.ExecutionTimeMS > 0 {
			d.ExecutionTimeSumMS, d.TimedCount = after.ExecutionTimeMS, 1
		}
	} else {
		d.Failed = 1
	}
	return d
}
