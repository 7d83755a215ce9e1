package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Factory returns a new, empty store for one test; events says whether it records lifecycle
// events in its outbox (as it does when an event publisher is configured).
type Factory func(t *testing.T, events bool) Subject

// Subject is a store under test and its outbox (the same store, as a rule). Pass lets its time pass
// by d: miniredis, for one, moves its TTLs only when told to; nil sleeps.
type Subject struct {
	Store  app.StateStore
	Outbox app.Outbox
	Pass   func(d time.Duration)
}

func (s Subject) pass(d time.Duration) {
	if s.Pass != nil {
		s.Pass(d)
		return
	}
	time.Sleep(d)
}

// Run runs the whole contract against the stores newStore makes. The state tests run with the
// outbox on, the costlier path, which must change nothing they observe.
func Run(t *testing.T, newStore Factory) {
	store := func(t *testing.T) app.StateStore { return newStore(t, true).Store }
	t.Run("create then get", func(t *testing.T) { testCreateGet(t, store(t)) })
	t.Run("idempotent create", func(t *testing.T) { testIdempotentCreate(t, store(t)) })
	t.Run("admission limit", func(t *testing.T) { testAdmission(t, store(t)) })
	t.Run("transitions count once", func(t *testing.T) { testTransitions(t, store(t)) })
	t.Run("update from a known entry", func(t *testing.T) { testUpdateFrom(t, store(t)) })
	t.Run("active pages", func(t *testing.T) { testActivePages(t, store(t)) })
	t.Run("claim check", func(t *testing.T) { testClaimCheck(t, newStore(t, true)) })
	for _, events := range []bool{true, false} {
		t.Run(fmt.Sprintf("race (events %v)", events), func(t *testing.T) {
			if v := Race(t, newStore(t, events).Store); len(v) > 0 {
				t.Fatalf("invariants violated under concurrency (%d), first: %s", len(v), v[0])
			}
		})
	}
	t.Run("cancel", func(t *testing.T) { testCancel(t, newStore(t, true)) })
	for _, events := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancel race (events %v)", events), func(t *testing.T) {
			subject := newStore(t, events)
			if !events {
				subject.Outbox = nil
			}
			if v := CancelRace(t, subject); len(v) > 0 {
				t.Fatalf("invariants violated under a cancel race (%d), first: %s", len(v), v[0])
			}
		})
	}
	t.Run("outbox order", func(t *testing.T) { testOutboxOrder(t, newStore(t, true)) })
	t.Run("outbox pages", func(t *testing.T) { testOutboxPages(t, newStore(t, true)) })
	t.Run("outbox race", func(t *testing.T) { testOutboxRace(t, newStore(t, true)) })
	t.Run("outbox off", func(t *testing.T) { testOutboxOff(t, newStore(t, false)) })
}

func testCreateGet(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	d := Entry(deliberation.IDFromKey("k1"), req, 0)
	got, created, err := s.Create(ctx, d, req, 0)
	if err != nil || !created || got.ID != d.ID {
		t.Fatalf("Create = %v, %v, %v; want created %s", got.ID, created, err, d.ID)
	}
	read, err := s.Get(ctx, d.ID)
	if err != nil || read.Status != deliberation.StatusSubmitted || read.TaskID != "task-1" || !read.SubmittedAt.Equal(d.SubmittedAt) {
		t.Fatalf("Get = %+v, %v", read, err)
	}
	stored, err := s.Request(ctx, d.ID)
	if err != nil || stored.Fingerprint() != req.Fingerprint() {
		t.Fatalf("Request = %+v, %v; want the stored request", stored, err)
	}
	if _, err := s.Get(ctx, deliberation.IDFromKey("missing")); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("Get(missing) error = %v, want not_found", err)
	}
	expectStats(t, s, 1, 1, 0, 0)
	if _, since, _ := s.Stats(ctx); !since.Equal(Epoch) {
		t.Fatalf("since = %v, want %v", since, Epoch)
	}
}

func testIdempotentCreate(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	id := deliberation.IDFromKey("same-key")
	first := Entry(id, req, 0)
	if _, created, err := s.Create(ctx, first, req, 0); err != nil || !created {
		t.Fatalf("first Create = %v, %v", created, err)
	}
	got, created, err := s.Create(ctx, Entry(id, req, time.Minute), req, 0)
	if err != nil || created || !got.SubmittedAt.Equal(first.SubmittedAt) {
		t.Fatalf("replay Create = %v (submitted %v), %v; want the first entry", created, got.SubmittedAt, err)
	}
	other := Request(t, "task-2")
	if _, _, err := s.Create(ctx, Entry(id, other, 0), other, 0); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("Create with another request: error %v, want conflict", err)
	}
	expectStats(t, s, 1, 1, 0, 0)
}

func testAdmission(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	for i := range 2 {
		if _, _, err := s.Create(ctx, Entry(deliberation.IDFromKey(fmt.Sprint(i)), req, 0), req, 2); err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
	}
	_, _, err := s.Create(ctx, Entry(deliberation.IDFromKey("third"), req, 0), req, 2)
	if deliberation.ErrorCode(err) != deliberation.CodeTooMany {
		t.Fatalf("third Create error = %v, want too_many", err)
	}
	expectStats(t, s, 2, 2, 0, 0)
	if _, err := s.Get(ctx, deliberation.IDFromKey("third")); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("refused deliberation was stored: %v", err)
	}
}

func testTransitions(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	a, b := Entry(deliberation.IDFromKey("a"), req, 0), Entry(deliberation.IDFromKey("b"), req, time.Second)
	for _, d := range []deliberation.Deliberation{a, b} {
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
	}
	now := Epoch.Add(time.Minute)
	running, won, err := s.Update(ctx, a.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) })
	if err != nil || !won || running.Status != deliberation.StatusRunning {
		t.Fatalf("Running: %v, %v, %v", running.Status, won, err)
	}
	if _, won, _ := s.Update(ctx, a.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) }); won {
		t.Fatal("a repeated Running reported a change")
	}
	res := Result(t)
	done, won, err := s.Update(ctx, a.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Complete(res, 4000, now) })
	if err != nil || !won || done.Status != deliberation.StatusCompleted || done.Result.BestResult.AgentID != "a2" {
		t.Fatalf("Complete: %+v, %v, %v", done, won, err)
	}
	for range 3 {
		_, won, _ = s.Update(ctx, a.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("late", now) })
		if won {
			t.Fatal("a terminal entry changed")
		}
	}
	if _, won, _ := s.Update(ctx, b.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("boom", now) }); !won {
		t.Fatal("Fail did not win")
	}
	if _, _, err := s.Update(ctx, deliberation.IDFromKey("missing"), func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d, true }); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("Update(missing) error = %v, want not_found", err)
	}
	st := expectStats(t, s, 2, 0, 1, 1)
	if st.AverageExecutionTimeMS != 4000 {
		t.Fatalf("average execution time = %v, want 4000", st.AverageExecutionTimeMS)
	}
	got, _ := s.Get(ctx, a.ID)
	if got.Status != deliberation.StatusCompleted || got.ErrorMessage != "" {
		t.Fatalf("stored entry = %s %q, want completed", got.Status, got.ErrorMessage)
	}
}

// testUpdateFrom: a change always applies to the stored entry, never to a stale known one, and
// "no change" computed from a stale entry does not hide a change the stored one calls for.
func testUpdateFrom(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	now := Epoch.Add(time.Minute)
	a, b := Entry(deliberation.IDFromKey("from-a"), req, 0), Entry(deliberation.IDFromKey("from-b"), req, time.Second)
	for _, d := range []deliberation.Deliberation{a, b} {
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
	}
	running, won, err := s.UpdateFrom(ctx, a, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) })
	if err != nil || !won || running.Status != deliberation.StatusRunning {
		t.Fatalf("UpdateFrom(current): %v, %v, %v", running.Status, won, err)
	}
	// a is stale now: the change must see the running entry.
	var saw deliberation.Status
	res := Result(t)
	done, won, err := s.UpdateFrom(ctx, a, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		saw = d.Status
		return d.Complete(res, 3000, now)
	})
	if err != nil || !won || saw != deliberation.StatusRunning || done.Status != deliberation.StatusCompleted || done.StartedAt.IsZero() {
		t.Fatalf("UpdateFrom(stale): saw %s, got %s (started %v), %v, %v", saw, done.Status, done.StartedAt, won, err)
	}
	if got, _, err := s.UpdateFrom(ctx, a, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("late", now) }); err != nil || got.Status != deliberation.StatusCompleted {
		t.Fatalf("UpdateFrom(stale) of a finished entry: %s, %v; want the completed entry unchanged", got.Status, err)
	}
	// b's stale copy says submitted, for which this change does nothing; the stored b runs.
	if _, _, err := s.Update(ctx, b.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) }); err != nil {
		t.Fatal(err)
	}
	failed, won, err := s.UpdateFrom(ctx, b, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		if d.Status != deliberation.StatusRunning {
			return d, false
		}
		return d.Fail("boom", now)
	})
	if err != nil || !won || failed.Status != deliberation.StatusFailed {
		t.Fatalf("UpdateFrom(stale, no change on the stale copy): %s, %v, %v; want failed", failed.Status, won, err)
	}
	missing := Entry(deliberation.IDFromKey("from-missing"), req, 0)
	if _, _, err := s.UpdateFrom(ctx, missing, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) }); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("UpdateFrom(missing) error = %v, want not_found", err)
	}
	st := expectStats(t, s, 2, 0, 1, 1)
	if st.AverageExecutionTimeMS != 3000 {
		t.Fatalf("average execution time = %v, want 3000", st.AverageExecutionTimeMS)
	}
}

func testActivePages(t *testing.T, s app.StateStore) {
	ctx := context.Background()
	req := Request(t, "task-1")
	var ids []string
	for i := range 7 {
		// Two entries per millisecond: ties must page by id without loss or repetition.
		d := Entry(deliberation.IDFromKey(fmt.Sprint("page", i)), req, time.Duration(i/2)*time.Millisecond)
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	finished := ids[6]
	if _, _, err := s.Update(ctx, finished, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("x", Epoch) }); err != nil {
		t.Fatal(err)
	}
	page1, next, err := s.Active(ctx, "", 3)
	if err != nil || len(page1) != 3 || next == "" {
		t.Fatalf("page 1 = %d entries, next %q, %v", len(page1), next, err)
	}
	// The last entry of page 1 finishes before page 2 is read: the cursor must still work.
	if _, _, err := s.Update(ctx, page1[2].ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("x", Epoch) }); err != nil {
		t.Fatal(err)
	}
	page2, next2, err := s.Active(ctx, next, 3)
	if err != nil || len(page2) != 3 || next2 != "" {
		t.Fatalf("page 2 = %d entries, next %q, %v; want 3 and the end", len(page2), next2, err)
	}
	seen := map[string]bool{}
	var prev deliberation.Deliberation
	for _, d := range append(page1, page2...) {
		if seen[d.ID] || d.ID == finished {
			t.Fatalf("entry %s repeated or terminal", d.ID)
		}
		if prev.ID != "" && d.SubmittedAt.Before(prev.SubmittedAt) {
			t.Fatal("pages are not oldest first")
		}
		seen[d.ID], prev = true, d
	}
	if len(seen) != 6 {
		t.Fatalf("pages held %d entries, want 6", len(seen))
	}
	if _, _, err := s.Active(ctx, "not-a-cursor", 3); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
		t.Fatalf("bad cursor error = %v, want invalid", err)
	}
}

func testClaimCheck(t *testing.T, subject Subject) {
	ctx, s := context.Background(), subject.Store
	id := deliberation.IDFromKey("claim")
	if ok, err := s.ClaimCheck(ctx, id, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, _ := s.ClaimCheck(ctx, id, 300*time.Millisecond); ok {
		t.Fatal("second claim within the period succeeded")
	}
	subject.pass(400 * time.Millisecond)
	if ok, _ := s.ClaimCheck(ctx, id, 300*time.Millisecond); !ok {
		t.Fatal("claim after the period failed")
	}
}

func expectStats(t *testing.T, s app.StateStore, total, active, completed, failed int64) deliberation.ExecutionStats {
	t.Helper()
	st, _, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.TotalDeliberations != total || st.ActiveDeliberations != active || st.CompletedDeliberations != completed || st.FailedDeliberations != failed {
		t.Fatalf("stats = %+v, want total %d active %d completed %d failed %d", st, total, active, completed, failed)
	}
	return st
}
