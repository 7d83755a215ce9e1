package natsevents_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestPublisher runs the publisher's contract on an embedded server and on a nats-server process.
func TestPublisher(t *testing.T) {
	t.Parallel()
	servers := map[string]func(t *testing.T) string{
		"embedded":    func(t *testing.T) string { return embedded(t, 0) },
		"nats-server": func(t *testing.T) string { return testenv.StartNATS(t).URL() },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, start(t)) })
			t.Run("stream created when missing", func(t *testing.T) { t.Parallel(); testStreamCreated(t, start(t)) })
			t.Run("stream never overwritten", func(t *testing.T) { t.Parallel(); testStreamKept(t, start(t)) })
			t.Run("race yields one event", func(t *testing.T) { t.Parallel(); testRace(t, start(t)) })
			t.Run("lost removal doubles nothing", func(t *testing.T) { t.Parallel(); testLostAck(t, start(t)) })
			t.Run("server drops a republish", func(t *testing.T) { t.Parallel(); testServerDropsRepublish(t, start(t)) })
		})
	}
}

// testLifecycle: deliberations that complete, fail, and retry on a second attempt publish their
// events, in order, on the right subjects, with the right ids.
func testLifecycle(t *testing.T, url string) {
	store := miniStore(t)
	jobs, ray := newRay(t)
	svc := service(unthrottled{store}, ray, publisher(t, url, store))
	done, failed, retried := execute(t, svc), execute(t, svc), execute(t, svc)
	for _, id := range []string{done, failed, retried} {
		jobs.set(id, deliberation.JobRunning)
		poll(t, svc, id)
	}
	jobs.set(done, deliberation.JobSucceeded)
	jobs.set(failed, deliberation.JobFailed)
	jobs.setInfraFailure(retried)
	second := deliberation.SubmissionID(retried, 2)
	jobs.set(second, deliberation.JobRunning)
	for _, id := range []string{done, failed, retried, retried} {
		poll(t, svc, id)
	}
	jobs.set(second, deliberation.JobSucceeded)
	if r := poll(t, svc, retried); r.Status != deliberation.StatusCompleted {
		t.Fatalf("retried deliberation = %+v", r)
	}
	drained(t, svc, store, 10*time.Second)
	got := byDeliberation(t, readStream(t, url))
	want := map[string][]string{
		done:    {done + ".submitted", done + ".started", done + ".completed"},
		failed:  {failed + ".submitted", failed + ".started", failed + ".failed"},
		retried: {retried + ".submitted", retried + ".started", second + ".started", second + ".completed"},
	}
	for id, events := range want {
		if !slices.Equal(got[id], events) {
			t.Errorf("events of %s = %v, want %v", id, got[id], events)
		}
	}
	if len(got) != len(want) {
		t.Errorf("events of %d deliberations, want %d", len(got), len(want))
	}
}

func streamConfig(t *testing.T, url string) jetstream.StreamConfig {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), streamName)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return s.CachedInfo().Config
}

func testStreamCreated(t *testing.T, url string) {
	store := miniStore(t)
	svc := service(store, &fakes.Ray{}, publisher(t, url, store))
	execute(t, svc)
	drained(t, svc, store, 10*time.Second)
	cfg := streamConfig(t, url)
	if cfg.Storage != jetstream.FileStorage || !slices.Equal(cfg.Subjects, []string{prefix + ".>"}) || cfg.Duplicates < 30*time.Minute {
		t.Fatalf("stream config: storage %v, subjects %v, duplicate window %v", cfg.Storage, cfg.Subjects, cfg.Duplicates)
	}
}

// testStreamKept: an operator's stream (other limits, a wider subject) is used as it is.
func testStreamKept(t *testing.T, url string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	theirs := jetstream.StreamConfig{Name: streamName, Description: "tuned by the operator", Subjects: []string{prefix + ".>", "audit.>"},
		Storage: jetstream.FileStorage, Duplicates: 45 * time.Minute, MaxMsgs: 5000, MaxAge: 24 * time.Hour}
	if _, err := js.CreateStream(context.Background(), theirs); err != nil {
		t.Fatal(err)
	}
	store := miniStore(t)
	svc := service(store, &fakes.Ray{}, publisher(t, url, store))
	execute(t, svc)
	drained(t, svc, store, 10*time.Second)
	cfg := streamConfig(t, url)
	if cfg.Description != theirs.Description || !slices.Equal(cfg.Subjects, theirs.Subjects) || cfg.MaxMsgs != 5000 ||
		cfg.Duplicates != theirs.Duplicates || cfg.MaxAge != theirs.MaxAge {
		t.Fatalf("the existing stream was changed: %+v", cfg)
	}
	if n := len(readStream(t, url)); n != 1 {
		t.Fatalf("%d messages in the operator's stream, want the submitted event", n)
	}
}

// testRace: 50 goroutines race the same transition (the first sighting of RUNNING, then the
// completion) through the service; each yields one event in the stream.
func testRace(t *testing.T, url string) {
	store := miniStore(t)
	jobs, ray := newRay(t)
	svc := service(unthrottled{store}, ray, publisher(t, url, store))
	id := execute(t, svc)
	race := func(state deliberation.JobState) {
		jobs.set(id, state)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				poll(t, svc, id)
			})
		}
		close(start)
		wg.Wait()
	}
	race(deliberation.JobRunning)
	race(deliberation.JobSucceeded)
	drained(t, svc, store, 10*time.Second)
	got := byDeliberation(t, readStream(t, url))
	if want := []string{id + ".submitted", id + ".started", id + ".completed"}; !slices.Equal(got[id], want) {
		t.Fatalf("events = %v, want %v", got[id], want)
	}
}

// lossyOutbox fails the first removal of every event, as a drain that dies between JetStream's
// acknowledgement and the removal would: the event is published again later.
type lossyOutbox struct {
	app.Outbox
	mu   sync.Mutex
	lost map[string]bool
}

func (o *lossyOutbox) Ack(ctx context.Context, id string, e app.PendingEvent) (bool, error) {
	o.mu.Lock()
	first := !o.lost[e.ID()]
	o.lost[e.ID()] = true
	o.mu.Unlock()
	if first {
		return false, errors.New("connection reset")
	}
	return o.Outbox.Ack(ctx, id, e)
}

func testLostAck(t *testing.T, url string) {
	store := miniStore(t)
	outbox := &lossyOutbox{Outbox: store, lost: map[string]bool{}}
	jobs, ray := newRay(t)
	svc := service(unthrottled{store}, ray, publisher(t, url, outbox))
	id := execute(t, svc)
	jobs.set(id, deliberation.JobFailed)
	poll(t, svc, id)
	drained(t, svc, store, 10*time.Second)
	if n := len(outbox.lost); n != 2 {
		t.Fatalf("%d events went through a lost removal, want 2", n)
	}
	got := byDeliberation(t, readStream(t, url))
	if want := []string{id + ".submitted", id + ".failed"}; !slices.Equal(got[id], want) {
		t.Fatalf("events = %v, want %v once each", got[id], want)
	}
}

// testServerDropsRepublish: what the lost-removal test relies on, checked at the server. An event
// the publisher delivered, published again with the same Nats-Msg-Id (as a drain that died
// before its removal does), is acknowledged as a duplicate and not stored by the stream the
// publisher created; the same bytes under another id are stored, so the count could go wrong.
func testServerDropsRepublish(t *testing.T, url string) {
	store := miniStore(t)
	jobs, ray := newRay(t)
	svc := service(unthrottled{store}, ray, publisher(t, url, store))
	id := execute(t, svc)
	jobs.set(id, deliberation.JobFailed)
	poll(t, svc, id)
	drained(t, svc, store, 10*time.Second)
	before := readStream(t, url)
	if len(before) != 2 {
		t.Fatalf("%d messages after one deliberation, want submitted and failed", len(before))
	}

	js := jetStream(t, url)
	first := before[0]
	raw, err := first.event.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	republish := func(msgID string) *jetstream.PubAck {
		t.Helper()
		msg := nats.NewMsg(first.subject)
		msg.Data = raw
		msg.Header.Set("Content-Type", "application/cloudevents+json")
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
		ack, err := js.PublishMsg(t.Context(), msg)
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	// A redelivery comes a while later: still inside the window (its size is checked with the
	// stream's configuration), not right after the first publish.
	time.Sleep(1500 * time.Millisecond)
	if ack := republish(first.msgID); !ack.Duplicate {
		t.Fatalf("republish of %s: %+v, want a duplicate acknowledgement", first.msgID, ack)
	}
	if got := readStream(t, url); len(got) != len(before) {
		t.Fatalf("%d messages after a republish with the same id, want %d", len(got), len(before))
	}
	if ack := republish(first.msgID + "-other"); ack.Duplicate {
		t.Fatalf("publish under a new id: %+v, want it stored", ack)
	}
	if got := readStream(t, url); len(got) != len(before)+1 {
		t.Fatalf("%d messages after a publish under a new id, want %d", len(got), len(before)+1)
	}
}
