package app_test

import (
	"context"
	"testing"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	alice    = callers.Caller{Name: "alice", Role: callers.RoleCaller}
	bob      = callers.Caller{Name: "bob", Role: callers.RoleCaller}
	operator = callers.Caller{Name: "ops", Role: callers.RoleOperator}
)

func as(c callers.Caller) context.Context { return callers.With(context.Background(), c) }

// TestCallersSeeOnlyTheirOwn: a deliberation records its caller; another caller's status and
// cancel answer not_found (never "forbidden", so ids are not probed) and its list leaves it out;
// an operator sees, lists and cancels everyone's, and only an operator sees an entry stored
// before callers had names.
func TestCallersSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := map[string]string{}
	for _, c := range []callers.Caller{alice, bob} {
		sub, err := h.svc.Execute(as(c), app.ExecuteCommand{Input: input()})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.Name] = sub.DeliberationID
	}
	_ = h.svc.Wait(context.Background())
	if r, _ := h.svc.Status(as(alice), ids["alice"]); r.Status == deliberation.StatusNotFound || r.Caller != "alice" {
		t.Fatalf("alice's own status: %+v", r)
	}
	if r, _ := h.svc.Status(as(alice), ids["bob"]); r.Status != deliberation.StatusNotFound || r.Caller != "" || r.TaskID != "" {
		t.Fatalf("alice read bob's deliberation: %+v", r)
	}
	if res, _ := h.svc.Cancel(as(alice), ids["bob"], "mine now"); res.Outcome != app.CancelNotFound {
		t.Fatalf("alice cancelling bob's: %s", res.Outcome)
	}
	if r, _ := h.svc.Status(as(bob), ids["bob"]); r.Status != deliberation.StatusSubmitted && r.Status != deliberation.StatusRunning {
		t.Fatalf("bob's deliberation after alice's cancel: %s", r.Status)
	}
	page, err := h.svc.ActiveJobs(as(alice), 100, "")
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].JobID != ids["alice"] {
		t.Fatalf("alice's list: %+v, %v", page.Jobs, err)
	}
	if page, _ := h.svc.ActiveJobs(as(operator), 100, ""); len(page.Jobs) != 2 {
		t.Fatalf("the operator's list: %d jobs, want 2", len(page.Jobs))
	}
	if r, _ := h.svc.Status(as(operator), ids["alice"]); r.Caller != "alice" {
		t.Fatalf("the operator's view of alice's: %+v", r)
	}
	if res, _ := h.svc.Cancel(as(operator), ids["bob"], "ops"); res.Outcome != app.CancelRecorded {
		t.Fatalf("the operator cancelling bob's: %s", res.Outcome)
	}

	old := deliberation.New(deliberation.NewID(), mustRequest(t), epoch)
	if _, _, err := h.store.Create(context.Background(), old, mustRequest(t), 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.svc.Status(as(alice), old.ID); r.Status != deliberation.StatusNotFound {
		t.Fatalf("a caller read an entry from before callers: %+v", r)
	}
	if r, _ := h.svc.Status(as(operator), old.ID); r.Status == deliberation.StatusNotFound {
		t.Fatal("the operator cannot read an entry from before callers")
	}
}

// TestCallerActiveQuota: a limited caller is refused (too_many) at its bound, another caller is not.
func TestCallerActiveQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	limited := alice
	limited.Limited, limited.Quota.MaxActive = true, 2
	for i := range 3 {
		_, err := h.svc.Execute(as(limited), app.ExecuteCommand{Input: input()})
		if i < 2 && err != nil || i == 2 && deliberation.ErrorCode(err) != deliberation.CodeTooMany {
			t.Fatalf("execute %d: %v", i, err)
		}
	}
	if _, err := h.svc.Execute(as(bob), app.ExecuteCommand{Input: input()}); err != nil {
		t.Fatalf("bob refused by alice's quota: %v", err)
	}
	_ = h.svc.Wait(context.Background())
}

func mustRequest(t *testing.T) deliberation.Request {
	t.Helper()
	in := input()
	req, err := deliberation.NewRequest(in, deliberation.Limits{MaxAgents: 16, Allowlist: deliberation.AllowAny(nil)})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestIdempotencyNamespaces: one key names one deliberation per caller and per kind (a key the
// caller chose, an event's), and the id depends on the server's secret, so it is not derivable
// from the key alone (the unkeyed derivation of older versions gives another id).
func TestIdempotencyNamespaces(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run := func(ctx context.Context, fromEvent bool) string {
		t.Helper()
		sub, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input(), IdempotencyKey: "k-1", FromEvent: fromEvent})
		if err != nil {
			t.Fatal(err)
		}
		return sub.DeliberationID
	}
	ids := map[string]bool{}
	for _, id := range []string{run(as(alice), false), run(as(bob), false), run(as(alice), true), run(as(bob), true)} {
		ids[id] = true
	}
	if len(ids) != 4 {
		t.Fatalf("4 namespaces gave %d ids", len(ids))
	}
	if again := run(as(alice), false); !ids[again] {
		t.Fatal("a replay in the same namespace named another deliberation")
	}
	if ids[deliberation.IDFromKey("k-1")] {
		t.Fatal("an id is the unkeyed hash of its key")
	}
	h.svc.Secrets = app.StaticSecret("another-secret-of-at-least-32-characters")
	if ids[run(as(alice), false)] {
		t.Fatal("the id does not depend on the secret")
	}
	_ = h.svc.Wait(context.Background())
}
