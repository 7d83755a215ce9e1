package natsevents

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

const (
	// drainBatch is how many events of one deliberation are read from the outbox at once.
	drainBatch = 16
	// headerAllowance is kept free of the server's max payload for the message headers.
	headerAllowance = 1024
	// defaultMaxPayload is NATS's own default, for a server that announced none.
	defaultMaxPayload = 1 << 20
)

// drain publishes id's pending events, oldest first, until none is left. An event is removed from
// the outbox only after JetStream acknowledged it, and the next one is published only after that,
// so the stream holds each deliberation's events in order. When another deliverer removed the head
// first, the outbox is read again from its new head. A short batch sent whole ends the drain
// without reading the outbox once more: an event recorded meanwhile comes with a Deliver of its
// own, which runs this drain again (see scheduler).
func (p *Publisher) drain(ctx context.Context, id string) error {
	for {
		l := p.connected()
		if l == nil {
			return errDisconnected
		}
		if err := p.stream.ensure(ctx, l.js); err != nil {
			return err
		}
		batch, err := p.outbox.Pending(ctx, id, drainBatch)
		if err != nil || len(batch) == 0 {
			return err
		}
		sent, err := p.send(ctx, l, id, batch)
		if err != nil || (sent == len(batch) && len(batch) < drainBatch) {
			return err
		}
	}
}

// send publishes and removes the events of batch in order; it stops at the first event another
// deliverer removed first, and says how many it removed.
func (p *Publisher) send(ctx context.Context, l *link, id string, batch []app.PendingEvent) (int, error) {
	for i, e := range batch {
		if err := p.publish(ctx, l, e.LifecycleEvent); err != nil {
			return i, fmt.Errorf("publish %s: %w", e.ID(), err)
		}
		removed, err := p.outbox.Ack(ctx, id, e)
		if err != nil {
			return i, fmt.Errorf("remove %s from the outbox: %w", e.ID(), err)
		}
		if !removed {
			return i, nil
		}
	}
	return len(batch), nil
}

// publish sends one event and waits, within PublishTimeout, for JetStream's acknowledgement. Its
// span's trace context goes in the message headers and the event's traceparent extension.
func (p *Publisher) publish(ctx context.Context, l *link, e deliberation.LifecycleEvent) (err error) {
	subject := p.opt.subject(e.Name)
	ctx, span := p.startPublishSpan(ctx, subject, e)
	defer func() { endSpan(span, err) }()
	limit := int(l.nc.MaxPayload())
	if limit <= 0 {
		limit = defaultMaxPayload
	}
	tc := traceOf(ctx)
	body, err := encodeEvent(e, p.opt.Source, limit-headerAllowance, tc)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	setHeaders(msg.Header, tc)
	ctx, cancel := context.WithTimeout(ctx, p.opt.PublishTimeout)
	defer cancel()
	_, err = l.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.ID()), jetstream.WithExpectStream(p.opt.Stream))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		p.stream.forget()
	}
	return err
}
