//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// deliveryBudget is how long a delivery is retried, as a Broker retries a 503: longer than any
// outage the suite causes.
const deliveryBudget = 2 * time.Minute

// load sends a steady stream of executes and replays them.
type load struct {
	t          *testing.T
	c          *client
	executeURL string
	statusURL  string
	modelURL   string
	ledger     *ledger
	writes     *availability
	inflight   sync.WaitGroup
}

// run sends rate executes a second for d, each in its own goroutine, and returns when the last
// was sent; wait waits for their deliveries and replays.
func (l *load) run(ctx context.Context, rate float64, d time.Duration) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sh := shapes[rand.IntN(len(shapes))]
		body := requestBody(i, sh, l.modelURL)
		// One in five goes without a key, two as events and two with an Idempotency-Key.
		switch i % 5 {
		case 0, 2:
			e := l.ledger.add(i, viaEvent, sh)
			l.inflight.Go(func() { l.deliverEvent(ctx, e, body) })
		case 1, 3:
			e := l.ledger.add(i, viaKeyedHTTP, sh)
			l.inflight.Go(func() { l.sendKeyed(ctx, e, body) })
		default:
			e := l.ledger.add(i, viaHTTP, sh)
			l.inflight.Go(func() { l.sendOnce(ctx, e, body) })
		}
	}
}

func (l *load) wait() { l.inflight.Wait() }

// deliverEvent delivers one execute event 5-20 times at once, in both modes, each delivery
// retried until it is answered: a Broker that redelivers while the first delivery is in flight.
func (l *load) deliverEvent(ctx context.Context, e *entry, body []byte) {
	id := fmt.Sprintf("faults-event-%d", e.index)
	var wg sync.WaitGroup
	for k := range 5 + rand.IntN(16) {
		wg.Go(func() {
			ev := newEvent("/faults/broker", id, transport.TypeExecuteRequested, json.RawMessage(body))
			l.untilAnswered(ctx, e, fmt.Sprintf("event %s delivery %d", id, k), func(ctx context.Context) answer {
				return l.c.sendEvent(ctx, l.executeURL, ev, k%2 == 1)
			})
		})
	}
	wg.Wait()
}

// sendKeyed sends an execute with an Idempotency-Key 2-5 times at once, then once more a few
// seconds later: each must name the same deliberation, and only one may have created it.
func (l *load) sendKeyed(ctx context.Context, e *entry, body []byte) {
	key := fmt.Sprintf("faults-key-%d", e.index)
	send := func(ctx context.Context) answer { return l.c.executeHTTP(ctx, l.executeURL, body, key) }
	var wg sync.WaitGroup
	for k := range 2 + rand.IntN(4) {
		wg.Go(func() { l.untilAnswered(ctx, e, fmt.Sprintf("key %s request %d", key, k), send) })
	}
	wg.Wait()
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(5+rand.IntN(10)) * time.Second):
	}
	if status := l.untilAnswered(ctx, e, "late replay of key "+key, send); status == http.StatusAccepted {
		l.t.Errorf("late replay of key %s created a deliberation (202), want 200", key)
	}
}

// sendOnce sends a keyless execute once: without a key, a retry would be a second deliberation.
func (l *load) sendOnce(ctx context.Context, e *entry, body []byte) {
	a := l.c.executeHTTP(ctx, l.executeURL, body, "")
	l.writes.note(a)
	switch {
	case a.retryable():
		l.ledger.noAnswer()
	case a.status != http.StatusAccepted:
		l.t.Errorf("keyless execute %d answered %d: %s", e.index, a.status, a.body)
	default:
		l.record(e, a, "keyless execute")
	}
}

// untilAnswered retries send with backoff while the answer is retryable, within deliveryBudget,
// records an accepted answer and returns its status (0 when none came).
func (l *load) untilAnswered(parent context.Context, e *entry, what string, send func(context.Context) answer) int {
	ctx, cancel := context.WithTimeout(parent, deliveryBudget)
	defer cancel()
	pause := 100 * time.Millisecond
	for {
		a := send(ctx)
		l.writes.note(a)
		if !a.retryable() {
			if a.status != http.StatusOK && a.status != http.StatusAccepted {
				l.t.Errorf("%s answered %d: %s", what, a.status, a.body)
				return a.status
			}
			l.record(e, a, what)
			return a.status
		}
		select {
		case <-ctx.Done():
			// A test that is ending (it failed elsewhere) cancels parent: nothing to report then.
			if parent.Err() == nil {
				l.t.Errorf("%s not answered within %s (last: %d %v)", what, deliveryBudget, a.status, a.err)
			}
			return 0
		case <-time.After(pause/2 + rand.N(pause/2)):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

func (l *load) record(e *entry, a answer, what string) {
	sub, err := a.submission()
	if err != nil {
		l.t.Errorf("%s: %v", what, err)
		return
	}
	if l.ledger.answered(e, sub.DeliberationID, a.status) {
		l.inflight.Go(func() { l.cancelSoon(l.t.Context(), sub.DeliberationID) })
	}
}

// cancelSoon cancels a deliberation a moment after it was accepted, as a caller that dropped its
// story does, through the status function, retrying while the answer says "later". A cancel
// that lost the race with the deliberation's end is answered 409.
func (l *load) cancelSoon(parent context.Context, id string) {
	select {
	case <-parent.Done():
		return
	case <-time.After(time.Duration(200+rand.IntN(1800)) * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(parent, deliveryBudget)
	defer cancel()
	pause := 100 * time.Millisecond
	for {
		r, a := l.c.cancel(ctx, l.statusURL, id)
		l.writes.note(a)
		if !a.retryable() {
			switch {
			case a.status != http.StatusAccepted && a.status != http.StatusOK && a.status != http.StatusConflict:
				l.t.Errorf("cancel of %s answered %d: %s", id, a.status, a.body)
			case a.bad != nil:
				l.t.Errorf("cancel of %s: %v", id, a.bad)
			case a.status != http.StatusConflict && r.Status != deliberation.StatusCancelled:
				l.t.Errorf("cancel of %s answered %d with status %s", id, a.status, r.Status)
			}
			l.ledger.cancelAnswered(id, a.status)
			return
		}
		select {
		case <-ctx.Done():
			if parent.Err() == nil {
				l.t.Errorf("cancel of %s not answered within %s (last: %d %v)", id, deliveryBudget, a.status, a.err)
			}
			l.ledger.cancelAnswered(id, 0)
			return
		case <-time.After(pause/2 + rand.N(pause/2)):
		}
		pause = min(2*pause, 2*time.Second)
	}
}
