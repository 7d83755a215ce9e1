package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// testCancel: a cancel ends a submitted or running entry once, counts it as cancelled, joins the
// stop index until Stopped, and changes nothing on a terminal entry.
func testCancel(t *testing.T, subject Subject) {
	s, ctx := subject.Store, context.Background()
	req := Request(t, "task-1")
	a, b := Entry(deliberation.IDFromKey("cancel-a"), req, 0), Entry(deliberation.IDFromKey("cancel-b"), req, time.Second)
	for _, d := range []deliberation.Deliberation{a, b} {
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
	}
	now := Epoch.Add(time.Minute)
	cancel := func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Cancel("re-planned", now)
	}
	got, won, err := s.Update(ctx, a.ID, cancel)
	if err != nil || !won || got.Status != deliberation.StatusCancelled || got.Reason != "re-planned" || !got.CancelledAt.Equal(now) {
		t.Fatalf("Cancel: %+v, %v, %v", got, won, err)
	}
	if _, won, _ := s.Update(ctx, a.ID, cancel); won {
		t.Fatal("a second cancel reported a change")
	}
	if _, won, _ := s.Update(ctx, a.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Complete(Result(t), 10, now)
	}); won {
		t.Fatal("a cancelled entry completed")
	}
	if _, won, _ := s.Update(ctx, b.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("boom", now) }); !won {
		t.Fatal("Fail did not win")
	}
	if _, won, _ := s.Update(ctx, b.ID, cancel); won {
		t.Fatal("a failed entry was cancelled")
	}
	st := expectStats(t, s, 2, 0, 0, 1)
	if st.CancelledDeliberations != 1 {
		t.Fatalf("cancelled = %d, want 1", st.CancelledDeliberations)
	}
	if page, _, _ := s.Active(ctx, "", 10); len(page) != 0 {
		t.Fatalf("active index holds %d entries after cancel and fail, want 0", len(page))
	}
	ids, err := s.Stopping(ctx, "", 10)
	if err != nil || len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("Stopping = %v, %v, want [%s]", ids, err, a.ID)
	}
	if err := s.Stopped(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.Stopping(ctx, "", 10); len(ids) != 0 {
		t.Fatalf("Stopping after Stopped = %v, want none", ids)
	}
}

// CancelRace runs the cancel race and returns every violation observed: 50 goroutines cancel one
// running deliberation (half from a stale copy) while 25 complete it and 25 fail it past its
// deadline; readers check at every read that the counters add up and that it finished at most once.
// Afterwards exactly one caller won, the entry holds that terminal state, the counters hold it once,
// and (with the outbox on) exactly one terminal lifecycle event was recorded.
func CancelRace(t *testing.T, subject Subject) []string {
	t.Helper()
	s, ctx := subject.Store, context.Background()
	req := Request(t, "cancel-race")
	target := Entry(deliberation.IDFromKey("cancel-race"), req, 0)
	if _, _, err := s.Create(ctx, target, req, 0); err != nil {
		t.Fatalf("create: %v", err)
	}
	running, _, err := s.Update(ctx, target.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Running(Epoch.Add(time.Second))
	})
	if err != nil {
		t.Fatalf("running: %v", err)
	}
	var (
		violations violationLog
		wins       atomic.Int64
		winner     atomic.Value
		writers    sync.WaitGroup
		readers    sync.WaitGroup
		reads      atomic.Int64
		done       = make(chan struct{})
		start      = make(chan struct{})
	)
	violate := violations.add
	res := Result(t)
	late := running.Deadline.Add(time.Minute)
	for i := range 100 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			<-start
			var change func(deliberation.Deliberation) (deliberation.Deliberation, bool)
			switch {
			case i < 50:
				change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Cancel("race", late) }
			case i < 75:
				change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
					return d.Complete(res, 1000, late)
				}
			default:
				change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.TimedOut(late) }
			}
			var after deliberation.Deliberation
			var won bool
			var err error
			if i%2 == 0 {
				after, won, err = s.UpdateFrom(ctx, running, change)
			} else {
				after, won, err = s.Update(ctx, target.ID, change)
			}
			if err != nil {
				violate("writer %d: %v", i, err)
			}
			if won {
				wins.Add(1)
				winner.Store(after.Status)
			}
		}()
	}
	watchStats(ctx, s, &readers, &reads, done, violate, func(st deliberation.ExecutionStats) {
		if n := st.CompletedDeliberations + st.FailedDeliberations + st.CancelledDeliberations; n > 1 || st.TotalDeliberations != 1 {
			violate("invariant 1: total %d, finished %d times", st.TotalDeliberations, n)
		}
	})
	close(start)
	writers.Wait()
	close(done)
	readers.Wait()
	if n := wins.Load(); n != 1 {
		violate("%d callers won a terminal transition, want 1", n)
		return violations.all()
	}
	status := winner.Load().(deliberation.Status)
	stored, err := s.Get(ctx, target.ID)
	if err != nil || stored.Status != status {
		violate("stored status %s (%v), the winner set %s", stored.Status, err, status)
	}
	st, _, err := s.Stats(ctx)
	want := map[deliberation.Status]int64{deliberation.StatusCompleted: st.CompletedDeliberations,
		deliberation.StatusFailed: st.FailedDeliberations, deliberation.StatusCancelled: st.CancelledDeliberations}
	if err != nil || st.ActiveDeliberations != 0 || want[status] != 1 || st.Consistent() != nil {
		violate("final stats %+v (%v), want the one %s counted", st, err, status)
	}
	ids, err := s.Stopping(ctx, "", 10)
	if inIndex := err == nil && len(ids) == 1 && ids[0] == target.ID; inIndex != (status == deliberation.StatusCancelled) || (err == nil && len(ids) > 1) {
		violate("stop index %v (%v) after a race won by %s", ids, err, status)
	}
	if subject.Outbox != nil {
		events, err := subject.Outbox.Pending(ctx, target.ID, 100)
		terminal := 0
		for _, e := range events {
			switch e.Name {
			case deliberation.EventCompleted, deliberation.EventFailed, deliberation.EventCancelled:
				terminal++
				if deliberation.Status(e.Name) != status {
					violate("terminal event %s, the winner set %s", e.Name, status)
				}
			}
		}
		if err != nil || terminal != 1 {
			violate("%d terminal lifecycle events (%v), want 1", terminal, err)
		}
	}
	if reads.Load() == 0 {
		t.Fatal("no concurrent read happened")
	}
	return violations.all()
}
