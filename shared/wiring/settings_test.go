package wiring

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/config"
)

// TestSettingsCarryTheConfiguredLimits: the use cases see the operator's limits, not the defaults.
func TestSettingsCarryTheConfiguredLimits(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "MAX_AGENTS": "4",
		"MAX_ACTIVE_DELIBERATIONS": "1000", "PENDING_LIMIT": "2m", "VLLM_URL_ALLOWLIST": "http://vllm:8000,https://m.example",
		"MAX_ANSWER_BYTES": "2048", "MAX_RUNNER_QUEUE_LAG": "500"}
	c, err := config.Load(func(k string) string { return env[k] }, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := settings(c)
	if s.MaxActive != 1000 || s.Limits.MaxAgents != 4 || len(s.Limits.Allowlist.Origins()) != 2 || s.PendingLimit != 2*time.Minute ||
		s.Limits.MaxAnswerBytes != 2048 || s.Limits.JobPolicy().MaxAnswerBytes != 2048 || s.MaxQueueLag != 500 {
		t.Errorf("settings = %+v", s)
	}
	if s.CheckPeriod != serveCheckPeriod {
		t.Errorf("serve dispatch: check period %s, want %s", s.CheckPeriod, serveCheckPeriod)
	}
	env["RAY_DISPATCH"], env["RAY_ADDRESS"] = "jobs", "http://127.0.0.1:8265"
	if c, err = config.Load(func(k string) string { return env[k] }, config.Options{NeedsRay: true}); err != nil {
		t.Fatal(err)
	}
	if s := settings(c); s.CheckPeriod != time.Second {
		t.Errorf("jobs dispatch: check period %s, want Ray's one per second", s.CheckPeriod)
	}
}

// TestSettingsKeepTheDefaultTimeouts: what no variable sets reaches the use cases as the default,
// never as zero (a zero wake poll would spin, a zero delete timeout would never delete).
func TestSettingsKeepTheDefaultTimeouts(t *testing.T) {
	t.Parallel()
	c, err := config.Load(func(k string) string { return map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}[k] }, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := settings(c)
	for name, c := range map[string]struct{ got, want time.Duration }{
		"SubmitTimeout": {s.SubmitTimeout, 3 * time.Second}, "RepairAge": {s.RepairAge, 5 * time.Second},
		"DeadlineGrace": {s.DeadlineGrace, 5 * time.Second}, "ReconcileBudget": {s.ReconcileBudget, 20 * time.Second},
		"WakeWait": {s.WakeWait, 10 * time.Second}, "WakePoll": {s.WakePoll, time.Second},
		"DeleteTimeout": {s.DeleteTimeout, 2 * time.Second}, "LagFresh": {s.LagFresh, 250 * time.Millisecond},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", name, c.got, c.want)
		}
	}
}
