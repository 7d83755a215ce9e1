package natsevents

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/app"
)

var _ app.EventPublisher = (*Publisher)(nil)

// errDisconnected stops a drain at once while NATS is unreachable: the events wait in the outbox.
var errDisconnected = errors.New("nats: not connected; events wait in the outbox")

// catchUpBudget bounds the drain of everything pending that a (re)connection starts; whatever is
// left then goes with the next reconcile pass.
const catchUpBudget = 30 * time.Second

// Publisher is the app.EventPublisher on NATS JetStream: it drains the state store's outbox.
type Publisher struct {
	opt       Options
	outbox    app.Outbox
	log       *slog.Logger
	link      atomic.Pointer[link]
	stream    stream
	scheduler *scheduler
	origins   origins

	mu         sync.Mutex
	closed     bool
	background sync.WaitGroup
	connecting chan struct{}
	catchingUp atomic.Bool
}

// link is one NATS connection and its JetStream context.
type link struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// New returns a publisher of what outbox holds and starts connecting in the background: it never
// waits on NATS, so an unreachable server delays no startup.
func New(opt Options, outbox app.Outbox, log *slog.Logger) (*Publisher, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{opt: opt, outbox: outbox, log: log, connecting: make(chan struct{})}
	p.stream = stream{opt: opt, log: log}
	p.origins = origins{max: opt.MaxQueued, spans: map[string]trace.SpanContext{}}
	p.scheduler = newScheduler(opt.MaxDrains, opt.MaxQueued, p.drainInBackground, p.goBackground)
	go p.connect()
	return p, nil
}

func (p *Publisher) connect() {
	defer close(p.connecting)
	nc, err := nats.Connect(p.opt.URL,
		nats.Name("ray-executor"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(p.opt.ReconnectWait),
		nats.Timeout(p.opt.ConnectTimeout),
		// Publishing while disconnected fails at once instead of piling up in a client buffer.
		nats.ReconnectBufSize(-1),
		// A server that stops answering is noticed within about half a minute.
		nats.PingInterval(10*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) { p.catchUp() }),
		nats.ReconnectHandler(func(*nats.Conn) {
			p.stream.forget()
			p.catchUp()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			p.log.Warn("nats disconnected; lifecycle events wait in the outbox", "error", err)
		}),
	)
	if err != nil {
		p.log.Error("nats connection not possible; lifecycle events stay in the outbox", "error", err)
		return
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		p.log.Error("jetstream unavailable; lifecycle events stay in the outbox", "error", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		nc.Close()
		return
	}
	p.link.Store(&link{nc: nc, js: js})
	// The connect handler may have run before the link existed; catch up now in that case.
	if nc.IsConnected() {
		p.catchUpLocked()
	}
}

// connected returns the link when it is up, nil otherwise.
func (p *Publisher) connected() *link {
	if l := p.link.Load(); l != nil && l.nc.IsConnected() {
		return l
	}
	return nil
}

// Deliver drains id's outbox in the background. While NATS is down it does nothing: the events
// wait for the catch-up that the reconnection starts, or for the next reconcile pass.
// The drain's publishes are children of ctx's span, the request's that recorded the events.
func (p *Publisher) Deliver(ctx context.Context, id string) {
	if p.connected() == nil {
		return
	}
	p.origins.put(id, trace.SpanContextFromContext(ctx))
	p.scheduler.enqueue(id)
}

func (p *Publisher) drainInBackground(id string) {
	ctx, cancel := context.WithTimeout(p.origins.take(context.Background(), id), p.opt.DrainTimeout)
	defer cancel()
	switch err := p.drain(ctx, id); {
	case errors.Is(err, errDisconnected):
		p.log.Debug("lifecycle events wait for nats in the outbox", "deliberation_id", id)
	case err != nil:
		p.log.Warn("lifecycle events wait in the outbox", "deliberation_id", id, "error", err)
	}
}

// catchUp drains everything pending after a (re)connection, one catch-up at a time.
func (p *Publisher) catchUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.catchUpLocked()
}

func (p *Publisher) catchUpLocked() {
	if p.closed || p.link.Load() == nil || !p.catchingUp.CompareAndSwap(false, true) {
		return
	}
	p.background.Go(func() {
		defer p.catchingUp.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), catchUpBudget)
		defer cancel()
		if err := p.DeliverPending(ctx); err != nil {
			p.log.Warn("catch-up after connecting left events in the outbox", "error", err)
		}
	})
}

// goBackground runs f unless the publisher is closed, so Close can wait for everything it started.
func (p *Publisher) goBackground(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.background.Go(f)
	return true
}

// Close stops accepting work, waits (within ctx) for the drains under way, and closes the
// connection. Events not yet published stay in the outbox.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		<-p.connecting
		p.background.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if l := p.link.Load(); l != nil {
		l.nc.Close()
	}
	return err
}
