package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// testOutboxOrder: every won transition records its events, in order, with the entry as it stood
// after that transition; lost transitions and replays record nothing; Ack removes only the head.
func testOutboxOrder(t *testing.T, subject Subject) {
	ctx, s, o := context.Background(), subject.Store, subject.Outbox
	req := Request(t, "task-1")
	a, b := Entry(deliberation.IDFromKey("outbox-a"), req, 0), Entry(deliberation.IDFromKey("outbox-b"), req, 0)
	for _, d := range []deliberation.Deliberation{a, b} {
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
	}
	now := Epoch.Add(time.Minute)
	res := Result(t)
	steps := []app.Change{
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.NextAttempt(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.AcceptedByRay(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Complete(res, 10, now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("late", now) },
	}
	for i, change := range steps {
		if _, _, err := s.Update(ctx, a.ID, change); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if _, created, err := s.Create(ctx, a, req, 0); err != nil || created {
		t.Fatalf("replayed Create = %v, %v", created, err)
	}
	if _, _, err := s.Update(ctx, b.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Fail("boom", now) }); err != nil {
		t.Fatal(err)
	}
	a2 := deliberation.SubmissionID(a.ID, 2)
	want := []struct {
		id     string
		status deliberation.Status
	}{
		{a.ID + ".submitted", deliberation.StatusSubmitted},
		{a.ID + ".started", deliberation.StatusRunning},
		{a2 + ".started", deliberation.StatusRunning},
		{a2 + ".completed", deliberation.StatusCompleted},
	}
	pending, err := o.Pending(ctx, a.ID, 100)
	if err != nil || len(pending) != len(want) {
		t.Fatalf("Pending = %v, %v; want %d events", eventIDs(pending), err, len(want))
	}
	for i, w := range want {
		if p := pending[i]; p.ID() != w.id || p.Deliberation.Status != w.status || p.Deliberation.ID != a.ID {
			t.Fatalf("event %d = %s with status %s, want %s with status %s", i, p.ID(), p.Deliberation.Status, w.id, w.status)
		}
	}
	if p := pending[3].Deliberation; p.Result == nil || p.Result.BestResult.AgentID != "a2" || p.ExecutionTimeMS != 10 {
		t.Fatalf("completed event's entry = %+v, want the stored result", p)
	}
	if head, _ := o.Pending(ctx, a.ID, 2); !slices.Equal(eventIDs(head), []string{want[0].id, want[1].id}) {
		t.Fatalf("Pending(limit 2) = %v", eventIDs(head))
	}
	if ok, err := o.Ack(ctx, a.ID, pending[1]); err != nil || ok {
		t.Fatalf("Ack of the second event = %v, %v; only the head may go", ok, err)
	}
	for i, p := range pending {
		if ok, err := o.Ack(ctx, a.ID, p); err != nil || !ok {
			t.Fatalf("Ack of head %d = %v, %v", i, ok, err)
		}
		if ok, _ := o.Ack(ctx, a.ID, p); ok {
			t.Fatalf("event %d removed twice", i)
		}
	}
	if rest, err := o.Pending(ctx, a.ID, 100); err != nil || len(rest) != 0 {
		t.Fatalf("Pending after every Ack = %v, %v", eventIDs(rest), err)
	}
	if ids, err := o.PendingIDs(ctx, "", 10); err != nil || !slices.Equal(ids, []string{b.ID}) {
		t.Fatalf("PendingIDs = %v, %v; want only %s", ids, err, b.ID)
	}
	if rest, _ := o.Pending(ctx, b.ID, 100); !slices.Equal(eventIDs(rest), []string{b.ID + ".submitted", b.ID + ".failed"}) {
		t.Fatalf("events of b = %v", eventIDs(rest))
	}
}

// testOutboxPages: PendingIDs pages through every deliberation with events, once each, in id order.
func testOutboxPages(t *testing.T, subject Subject) {
	ctx := context.Background()
	req := Request(t, "task-1")
	var want []string
	for i := range 7 {
		d := Entry(deliberation.IDFromKey(fmt.Sprint("outbox-page", i)), req, 0)
		if _, _, err := subject.Store.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, d.ID)
	}
	slices.Sort(want)
	var got []string
	for after := ""; ; {
		page, err := subject.Outbox.PendingIDs(ctx, after, 3)
		if err != nil || len(page) > 3 {
			t.Fatalf("page after %q = %v, %v", after, page, err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
}

// testOutboxRace: 50 goroutines race each transition; only the winner's event is recorded. Then
// 8 deliverers drain the outbox at once: every event is removed exactly once.
func testOutboxRace(t *testing.T, subject Subject) {
	ctx, s, o := context.Background(), subject.Store, subject.Outbox
	req := Request(t, "race")
	d := Entry(deliberation.IDFromKey("outbox-race"), req, 0)
	if _, _, err := s.Create(ctx, d, req, 0); err != nil {
		t.Fatal(err)
	}
	now := Epoch.Add(time.Minute)
	res := Result(t)
	race := func(change func(i int) app.Change) {
		t.Helper()
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 50 {
			wg.Go(func() {
				<-start
				_, won, err := s.Update(ctx, d.ID, change(i))
				if err != nil {
					t.Errorf("racer %d: %v", i, err)
				}
				if won {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d racers won, want 1", n)
		}
	}
	race(func(int) app.Change {
		return func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) { return cur.Running(now) }
	})
	race(func(i int) app.Change {
		return func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
			if i%2 == 0 {
				return cur.Complete(res, 1000, now)
			}
			return cur.Fail("failed by racer", now)
		}
	})
	pending, err := o.Pending(ctx, d.ID, 100)
	if err != nil || len(pending) != 3 || pending[0].Name != deliberation.EventSubmitted || pending[1].Name != deliberation.EventStarted ||
		(pending[2].Name != deliberation.EventCompleted && pending[2].Name != deliberation.EventFailed) {
		t.Fatalf("outbox = %v, %v; want submitted, started and one terminal event", eventIDs(pending), err)
	}
	var (
		mu      sync.Mutex
		removed []string
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				head, err := o.Pending(ctx, d.ID, 1)
				if err != nil {
					t.Errorf("Pending: %v", err)
					return
				}
				if len(head) == 0 {
					return
				}
				if ok, err := o.Ack(ctx, d.ID, head[0]); err != nil {
					t.Errorf("Ack: %v", err)
					return
				} else if ok {
					mu.Lock()
					removed = append(removed, head[0].ID())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	want := eventIDs(pending)
	slices.Sort(want)
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Fatalf("concurrent deliverers removed %v, want each of %v once", removed, want)
	}
	if ids, err := o.PendingIDs(ctx, "", 10); err != nil || len(ids) != 0 {
		t.Fatalf("PendingIDs after draining = %v, %v", ids, err)
	}
}

// testOutboxOff: a store with events off records nothing, whatever happens.
func testOutboxOff(t *testing.T, subject Subject) {
	ctx, s := context.Background(), subject.Store
	req := Request(t, "task-1")
	d := Entry(deliberation.IDFromKey("outbox-off"), req, 0)
	if _, _, err := s.Create(ctx, d, req, 0); err != nil {
		t.Fatal(err)
	}
	now := Epoch.Add(time.Minute)
	res := Result(t)
	for _, change := range []app.Change{
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(now) },
		func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Complete(res, 10, now) },
	} {
		if _, won, err := s.Update(ctx, d.ID, change); err != nil || !won {
			t.Fatalf("Update = %v, %v", won, err)
		}
	}
	if pending, err := subject.Outbox.Pending(ctx, d.ID, 100); err != nil || len(pending) != 0 {
		t.Fatalf("Pending = %v, %v; want nothing with events off", eventIDs(pending), err)
	}
	if ids, err := subject.Outbox.PendingIDs(ctx, "", 10); err != nil || len(ids) != 0 {
		t.Fatalf("PendingIDs = %v, %v; want nothing with events off", ids, err)
	}
}

func eventIDs(events []app.PendingEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID()
	}
	return ids
}
