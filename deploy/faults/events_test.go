//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// eventTypePrefix starts the type of every lifecycle event (docs/events.md).
const eventTypePrefix = "dev.rayexecutor.deliberation."

// eventLog is what an independent JetStream consumer read of the stream, in stream order.
type eventLog struct {
	messages int
	// byID counts the messages of each CloudEvent id (`<submission id>.<event>`).
	byID map[string]int
	// names lists each deliberation's event names in stream order.
	names map[string][]string
	// invalid lists messages that are not the lifecycle CloudEvents docs/events.md describes.
	invalid []string
}

// duplicates counts messages beyond the first of each event, and terminal events beyond the
// first of each deliberation (a deliberation that both completed and failed, or completed and
// was cancelled, ended twice).
func (l *eventLog) duplicates() int {
	n := 0
	for _, c := range l.byID {
		n += c - 1
	}
	for _, names := range l.names {
		if t := countTerminal(names); t > 1 {
			n += t - 1
		}
	}
	return n
}

func countTerminal(names []string) int {
	n := 0
	for _, name := range names {
		if name == deliberation.EventCompleted || name == deliberation.EventFailed || name == deliberation.EventCancelled {
			n++
		}
	}
	return n
}

// complete reports whether every id has its submitted event and a terminal one.
func (l *eventLog) complete(ids []string) bool {
	for _, id := range ids {
		names := l.names[id]
		if len(names) == 0 || names[0] != deliberation.EventSubmitted || countTerminal(names) == 0 {
			return false
		}
	}
	return true
}

// consumer reads the stream with an ordered consumer of its own, from the first message on.
type consumer struct {
	cons jetstream.Consumer
	log  *eventLog
}

func newConsumer(t *testing.T, url string) *consumer {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(t.Context(), natsStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("consumer of stream %s: %v", natsStream, err)
	}
	return &consumer{cons: cons, log: &eventLog{byID: map[string]int{}, names: map[string][]string{}}}
}

// readUntil reads messages until every id's events are complete and nothing more is pending, or
// until within passes (the outbox may still be draining after the last NATS cut).
func (c *consumer) readUntil(ctx context.Context, ids []string, within time.Duration) *eventLog {
	deadline := time.Now().Add(within)
	for {
		got, err := c.fetch()
		if err == nil && got == 0 && c.log.complete(ids) {
			return c.log
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return c.log
		}
		if err != nil {
			time.Sleep(time.Second)
		}
	}
}

// fetch reads one batch and says how many messages it held.
func (c *consumer) fetch() (int, error) {
	batch, err := c.cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return 0, err
	}
	n := 0
	for msg := range batch.Messages() {
		n++
		c.log.add(msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return n, err
	}
	return n, nil
}

// add checks one message as a CloudEvent with the SDK and as a lifecycle event, and files it.
func (l *eventLog) add(msg jetstream.Msg) {
	l.messages++
	e, name, report, err := decodeLifecycle(msg)
	if err != nil {
		l.invalid = append(l.invalid, fmt.Sprintf("%s: %v", msg.Subject(), err))
		return
	}
	l.byID[e.ID()]++
	l.names[report.DeliberationID] = append(l.names[report.DeliberationID], name)
}

// decodeLifecycle validates a message: a structured CloudEvent whose id is the Nats-Msg-Id and
// `<submission id>.<event>`, on the event's subject, with the status report of its deliberation
// in the state the event names.
func decodeLifecycle(msg jetstream.Msg) (event.Event, string, app.StatusReport, error) {
	var e event.Event
	var r app.StatusReport
	if err := json.Unmarshal(msg.Data(), &e); err != nil {
		return e, "", r, fmt.Errorf("not a structured CloudEvent: %w", err)
	}
	if err := e.Validate(); err != nil {
		return e, "", r, fmt.Errorf("invalid CloudEvent: %w", err)
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(e.Type(), eventTypePrefix), ".v1")
	want := map[string]deliberation.Status{
		deliberation.EventSubmitted: deliberation.StatusSubmitted, deliberation.EventStarted: deliberation.StatusRunning,
		deliberation.EventCompleted: deliberation.StatusCompleted, deliberation.EventFailed: deliberation.StatusFailed,
		deliberation.EventCancelled: deliberation.StatusCancelled,
	}
	status, known := want[name]
	if !ok || !known || !strings.HasPrefix(e.Type(), eventTypePrefix) {
		return e, "", r, fmt.Errorf("type %q is no lifecycle event", e.Type())
	}
	if err := e.DataAs(&r); err != nil {
		return e, "", r, fmt.Errorf("data of %s: %w", e.ID(), err)
	}
	switch {
	case msg.Headers().Get(jetstream.MsgIDHeader) != e.ID():
		return e, "", r, fmt.Errorf("Nats-Msg-Id %q is not the event id %q", msg.Headers().Get(jetstream.MsgIDHeader), e.ID())
	case e.ID() != r.SubmissionID+"."+name:
		return e, "", r, fmt.Errorf("event id %q is not <submission id>.%s of %s", e.ID(), name, r.SubmissionID)
	case e.Subject() != r.DeliberationID || msg.Subject() != subjectPrefix+".deliberation."+name:
		return e, "", r, fmt.Errorf("event %s on subject %s with ce-subject %s", e.ID(), msg.Subject(), e.Subject())
	case r.Status != status:
		return e, "", r, fmt.Errorf("event %s carries status %s", e.ID(), r.Status)
	}
	return e, name, r, nil
}

// problems lists deliberations among ids whose events are missing or out of order: each must
// start with submitted and end with its terminal event, which names its final status.
func (l *eventLog) problems(final map[string]deliberation.Status) []string {
	var out []string
	for id, status := range final {
		names := l.names[id]
		switch {
		case len(names) == 0:
			out = append(out, fmt.Sprintf("%s: no lifecycle event", id))
		case names[0] != deliberation.EventSubmitted:
			out = append(out, fmt.Sprintf("%s: first event %s, want submitted (events %v)", id, names[0], names))
		case names[len(names)-1] != string(status):
			out = append(out, fmt.Sprintf("%s is %s but its last event is %s (events %v)", id, status, names[len(names)-1], names))
		}
	}
	for id := range l.names {
		if _, ok := final[id]; !ok {
			out = append(out, fmt.Sprintf("events of %s, which no caller was answered and Redis does not hold", id))
		}
	}
	return out
}
