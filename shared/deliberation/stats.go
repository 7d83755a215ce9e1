package deliberation

import "fmt"

// ExecutionStats are the service's counters as one consistent snapshot.
type ExecutionStats struct {
	TotalDeliberations     int64   `json:"total_deliberations"`
	ActiveDeliberations    int64   `json:"active_deliberations"`
	CompletedDeliberations int64   `json:"completed_deliberations"`
	FailedDeliberations    int64   `json:"failed_deliberations"`
	CancelledDeliberations int64   `json:"cancelled_deliberations"`
	AverageExecutionTimeMS float64 `json:"average_execution_time_ms"`
}

// NewExecutionStats validates the counters; timedCount is how many completions carried a Ray time.
func NewExecutionStats(total, active, completed, failed, cancelled, executionTimeSumMS, timedCount int64) (ExecutionStats, error) {
	var p problems
	for _, c := range []struct {
		name string
		v    int64
	}{{"total_deliberations", total}, {"active_deliberations", active}, {"completed_deliberations", completed},
		{"failed_deliberations", failed}, {"cancelled_deliberations", cancelled}, {"execution_time_sum_ms", executionTimeSumMS}, {"timed_count", timedCount}} {
		if c.v < 0 {
			p.add(c.name, "%s cannot be negative, got %d", c.name, c.v)
		}
	}
	if err := p.err("invalid statistics"); err != nil {
		return ExecutionStats{}, err
	}
	s := ExecutionStats{TotalDeliberations: total, ActiveDeliberations: active,
		CompletedDeliberations: completed, FailedDeliberations: failed, CancelledDeliberations: cancelled}
	if timedCount > 0 {
		s.AverageExecutionTimeMS = float64(executionTimeSumMS) / float64(timedCount)
	}
	return s, nil
}

// Consistent reports invariant 2 of the spec: total = active + completed + failed + cancelled.
func (s ExecutionStats) Consistent() error {
	if s.TotalDeliberations != s.ActiveDeliberations+s.CompletedDeliberations+s.FailedDeliberations+s.CancelledDeliberations {
		return fmt.Errorf("total %d != active %d + completed %d + failed %d + cancelled %d", s.TotalDeliberations,
			s.ActiveDeliberations, s.CompletedDeliberations, s.FailedDeliberations, s.CancelledDeliberations)
	}
	return nil
}

// StatsDelta is how one transition moves the counters; every store applies it in the same atomic
// step as the transition, which is what keeps invariant 2 true at every instant.
type StatsDelta struct {
	Total, Active, Completed, Failed, Cancelled, ExecutionTimeSumMS, TimedCount int64
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
	switch after.Status {
	case StatusCancelled:
		d.Cancelled = 1
	case StatusCompleted:
		d.Completed = 1
		if after.ExecutionTimeMS > 0 {
			d.ExecutionTimeSumMS, d.TimedCount = after.ExecutionTimeMS, 1
		}
	default:
		d.Failed = 1
	}
	return d
}
