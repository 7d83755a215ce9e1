package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// ExpiryFactory returns a new, empty store whose retention (RETENTION) is the given one.
type ExpiryFactory func(t *testing.T, retention time.Duration) Subject

// expiryRetention is short, so a real server's clock gets through the subtests in seconds; the
// steps below keep 0.2 s or more from every expiry they must fall before or after.
const expiryRetention = time.Second

// RunExpiry runs the part of the contract about how long keys live, for stores that expire them
// (the in-memory fake keeps everything). Every step is timed by the store's own clock: Pass.
func RunExpiry(t *testing.T, newStore ExpiryFactory) {
	t.Run("idempotency record lives as long as its entry", func(t *testing.T) {
		t.Parallel()
		testIdempotencyOutlivesNothing(t, newStore(t, expiryRetention))
	})
	t.Run("abandoned active entry expires after deadline and retention", func(t *testing.T) {
		t.Parallel()
		testAbandonedEntryExpires(t, newStore(t, expiryRetention))
	})
}

// testIdempotencyOutlivesNothing: a key reused with another request is refused (conflict) for as
// long as the deliberation it named can be read, however late that deliberation finished; once
// both are gone the key is free again.
func testIdempotencyOutlivesNothing(t *testing.T, subject Subject) {
	ctx, s := context.Background(), subject.Store
	req, other := Request(t, "task-1"), Request(t, "task-2")
	id := deliberation.IDFromKey("late")
	if _, created, err := s.Create(ctx, Entry(id, req, 0), req, 0); err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	subject.pass(600 * time.Millisecond)
	finish(t, s, id)
	subject.pass(600 * time.Millisecond) // the retention since creation is over, not since the end
	if _, err := s.Get(ctx, id); err != nil {
		t.Fatalf("the entry is gone before its retention: %v", err)
	}
	if _, _, err := s.Create(ctx, Entry(id, other, 0), other, 0); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("the key reused with another request while its entry exists: %v, want conflict", err)
	}
	subject.pass(600 * time.Millisecond)
	if _, created, err := s.Create(ctx, Entry(id, other, 0), other, 0); err != nil || !created {
		t.Fatalf("the key once its entry expired: Create = %v, %v; want a new deliberation", created, err)
	}
}

// testAbandonedEntryExpires: an entry nobody finishes (no status check, no reconcile pass) still
// expires, with its request and key, the retention after its deadline; updates keep that expiry.
func testAbandonedEntryExpires(t *testing.T, subject Subject) {
	ctx, s := context.Background(), subject.Store
	timeout := 1
	in := requestInput("task-1")
	in.Constraints.TimeoutSeconds = &timeout
	req, err := deliberation.NewRequest(in, fixtureLimits)
	if err != nil {
		t.Fatal(err)
	}
	id := deliberation.IDFromKey("abandoned")
	if _, _, err := s.Create(ctx, Entry(id, req, 0), req, 0); err != nil {
		t.Fatal(err)
	}
	subject.pass(1200 * time.Millisecond)
	if _, _, err := s.Update(ctx, id, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Running(Epoch.Add(time.Second))
	}); err != nil {
		t.Fatalf("the entry is gone before its deadline and retention: %v", err)
	}
	subject.pass(1200 * time.Millisecond)
	if _, err := s.Get(ctx, id); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("an active entry outlived its deadline and retention: %v", err)
	}
	if _, err := s.Request(ctx, id); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("the request of an expired entry: %v, want not_found", err)
	}
	other := Request(t, "task-2")
	if _, created, err := s.Create(ctx, Entry(id, other, 0), other, 0); err != nil || !created {
		t.Fatalf("the key of an expired entry: Create = %v, %v; want a new deliberation", created, err)
	}
}

func finish(t *testing.T, s app.StateStore, id string) {
	t.Helper()
	if _, won, err := s.Update(context.Background(), id, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Fail("done", Epoch)
	}); err != nil || !won {
		t.Fatalf("finish: %v, %v", won, err)
	}
}
