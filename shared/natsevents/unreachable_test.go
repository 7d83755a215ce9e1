package natsevents_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/natsevents"
)

// TestUnreachableNATSBlocksNothing: against a server that accepts connections and never answers,
// New, Deliver and DeliverPending return at once, and the events wait in the outbox.
func TestUnreachableNATSBlocksNothing(t *testing.T) {
	t.Parallel()
	store := miniStore(t)
	start := time.Now()
	p, err := natsevents.New(natsevents.Options{URL: "nats://" + silentListener(t), ConnectTimeout: 500 * time.Millisecond}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := service(store, &fakes.Ray{}, p)
	id := execute(t, svc)
	if err := p.DeliverPending(context.Background()); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("DeliverPending = %v, want not connected", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("New, Execute and DeliverPending took %v with NATS silent", took)
	}
	if pending, err := store.Pending(context.Background(), id, 10); err != nil || len(pending) != 1 {
		t.Fatalf("outbox = %v, %v; want the submitted event waiting", pending, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestLongProposalsFitTheMaxPayload: a server with a small max payload gets a completed event whose
// proposals were cut to fit, marked as such.
func TestLongProposalsFitTheMaxPayload(t *testing.T) {
	t.Parallel()
	const maxPayload = 8 << 10
	url := embedded(t, maxPayload)
	store := miniStore(t)
	jobs, ray := newRay(t)
	long := strings.Repeat("a proposal that goes on ", 2000)
	res, err := deliberation.NewResult([]deliberation.AgentResult{
		{AgentID: "a1", Proposal: long, Score: 0.4}, {AgentID: "a2", Proposal: long, Score: 0.9}}, nil, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	jobs.result = res
	svc := service(unthrottled{store}, ray, publisher(t, url, store))
	in := request() // the result must name the request's agents
	in.Agents = append(in.Agents, deliberation.AgentConfig{AgentID: "a2", Role: "QA", Model: "m2"})
	sub, err := svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.DeliberationID
	jobs.set(id, deliberation.JobSucceeded)
	if r := poll(t, svc, id); r.Status != deliberation.StatusCompleted || r.Result.BestResult.Proposal != long {
		t.Fatalf("status = %+v, want the whole proposal", r.Status)
	}
	drained(t, svc, store, 10*time.Second)
	msgs := readStream(t, url)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want submitted and completed", len(msgs))
	}
	done := msgs[1]
	checkMessage(t, done)
	if v, _ := done.event.Context.GetExtension(natsevents.TruncatedExtension); v != true {
		t.Fatalf("completed event not marked truncated: %s", done.event)
	}
	if b := done.report.Result.BestResult; b == nil || b.AgentID != "a2" || !strings.Contains(b.Proposal, "[truncated: ") || len(b.Proposal) >= len(long) {
		t.Fatalf("best result in the event = %.100q", b.Proposal)
	}
	if size := len(done.event.Data()); size > maxPayload {
		t.Fatalf("event data is %d bytes, over the max payload %d", size, maxPayload)
	}
}
