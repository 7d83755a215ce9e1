package natsevents

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
)

// pendingPage is how many deliberations DeliverPending reads from the outbox index at once.
const pendingPage = 100

// DeliverPending drains every deliberation with pending events, MaxDrains at a time, within ctx.
// It stops early when NATS goes away; a deliberation that fails for another reason does not hold
// the others up. A deliberation a background drain of this process is working on is skipped.
func (p *Publisher) DeliverPending(ctx context.Context) error {
	if p.connected() == nil {
		return errDisconnected
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		failed int
		first  error
		wg     sync.WaitGroup
	)
	ids := make(chan string)
	for range p.opt.MaxDrains {
		wg.Go(func() {
			for id := range ids {
				if !p.scheduler.claim(id) {
					continue
				}
				err := p.drain(ctx, id)
				for p.scheduler.done(id) {
					err = p.drain(ctx, id)
				}
				if err == nil {
					continue
				}
				if errors.Is(err, errDisconnected) {
					cancel()
				}
				mu.Lock()
				failed++
				first = cmp.Or(first, fmt.Errorf("deliberation %s: %w", id, err))
				mu.Unlock()
			}
		})
	}
	err := p.feed(ctx, ids)
	close(ids)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%d deliberations keep events in the outbox, first: %w", failed, first)
	}
	return err
}

// feed pages through the outbox index into ids until its end or ctx's.
func (p *Publisher) feed(ctx context.Context, ids chan<- string) error {
	after := ""
	for {
		page, err := p.outbox.PendingIDs(ctx, after, pendingPage)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, id := range page {
			select {
			case ids <- id:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		after = page[len(page)-1]
	}
}
