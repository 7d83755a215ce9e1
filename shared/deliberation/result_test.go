package deliberation

import (
	"errors"
	"testing"
	"time"
)

func TestBestOfSeveralAgents(t *testing.T) {
	r, err := NewResult([]AgentResult{
		{AgentID: "a1", Proposal: "p1", Score: 0.7},
		{AgentID: "a2", Proposal: "p2", Score: 0.9},
		{AgentID: "a3", Proposal: "p3", Score: 0.9},
	}, nil, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.BestResult.AgentID != "a2" || r.CompletedAgents != 3 || r.AverageScore < 0.833 || r.AverageScore > 0.834 {
		t.Fatalf("best %s (want a2, first on ties), average %v", r.BestResult.AgentID, r.AverageScore)
	}
}

func TestResultValidation(t *testing.T) {
	_, err := NewResult([]AgentResult{{AgentID: "", Proposal: "", Score: 1.5}}, nil, 0, "")
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) != 4 {
		t.Fatalf("error = %v, want 4 problems", err)
	}
	if e.Fields[2].Message != "score must be between 0.0 and 1.0, got 1.5" {
		t.Fatalf("score message = %q", e.Fields[2].Message)
	}
}

func TestFormatRuntime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "0m 45s", 330 * time.Second: "5m 30s", 3725 * time.Second: "1h 2m 5s", -time.Second: "0m 0s",
	} {
		if got := FormatRuntime(d); got != want {
			t.Errorf("FormatRuntime(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStats(t *testing.T) {
	s, err := NewExecutionStats(10, 2, 5, 3, 0, 3000, 2)
	if err != nil || s.AverageExecutionTimeMS != 1500 || s.Consistent() != nil {
		t.Fatalf("stats = %+v, %v", s, err)
	}
	if _, err := NewExecutionStats(-1, 0, 0, 0, 0, 0, 0); err == nil {
		t.Fatal("negative count accepted")
	}
	if (ExecutionStats{TotalDeliberations: 3, ActiveDeliberations: 1}).Consistent() == nil {
		t.Fatal("inconsistent stats accepted")
	}
}

func TestJobInfo(t *testing.T) {
	d := newEntry(t)
	job, err := JobInfoOf(d, t0.Add(45*time.Second))
	if err != nil || job.Status != JobPending || job.Runtime != "0m 45s" || job.JobID != d.ID || job.StartTimeSeconds != t0.Unix() {
		t.Fatalf("job = %+v, %v", job, err)
	}
	r, _ := d.Running(t0.Add(10 * time.Second))
	job, _ = JobInfoOf(r, t0.Add(3735*time.Second))
	if job.Status != JobRunning || job.Runtime != "1h 2m 5s" {
		t.Fatalf("running job = %+v", job)
	}
	f, _ := r.Fail("x", t0)
	if _, err := JobInfoOf(f, t0); err == nil {
		t.Fatal("a terminal entry has an active job")
	}
}
