package deliberation

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNewRequest is the validation every execute pays before it touches Redis: a request of
// the usual size and one at the agent limit, with metadata.
func BenchmarkNewRequest(b *testing.B) {
	for _, agents := range []int{2, DefaultMaxAgents} {
		in := validInput()
		in.Agents = make([]AgentConfig, agents)
		for i := range in.Agents {
			in.Agents[i] = AgentConfig{AgentID: fmt.Sprintf("agent-%d", i), Role: "DEV", Model: "m1"}
		}
		in.Constraints.Metadata = map[string]string{"sprint": "12", "team": "platform", "priority": "high"}
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewRequest(in, open); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJobInfoOf is the per-entry work of a page of active jobs.
func BenchmarkJobInfoOf(b *testing.B) {
	req, err := NewRequest(validInput(), open)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	d, _ := New(NewID(), req, start).Running(start.Add(time.Second))
	now := start.Add(5*time.Minute + 30*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JobInfoOf(d, now); err != nil {
			b.Fatal(err)
		}
	}
}
