package app

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// ReconcileReport tells what one pass did. Partial means the time budget ran out first; the next
// pass continues.
type ReconcileReport struct {
	Checked int  `json:"checked"`
	Changed int  `json:"changed"`
	Partial bool `json:"partial"`
}

// Reconcile applies the status logic to every non-terminal deliberation, oldest first, with
// bounded concurrency and within ReconcileBudget: deliberations accepted while Ray was down are
// submitted, completions and failures recorded, deadlines enforced, lost jobs resubmitted. Passes
// may run at once on many replicas: every step is an atomic transition, and the per-deliberation
// check marker keeps two passes from asking Ray about the same deliberation twice in a period.
// Alongside, the pass delivers the lifecycle events still waiting in the outbox (those of an
// event-bus outage), within the same budget.
func (s *Service) Reconcile(ctx context.Context) (ReconcileReport, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Settings.ReconcileBudget)
	defer cancel()
	delivered := s.deliverPending(ctx)
	defer func() { <-delivered }()
	var report ReconcileReport
	var checked, changed atomic.Int64
	work := make(chan deliberation.Deliberation)
	var wg sync.WaitGroup
	for range max(s.Settings.ReconcileWorkers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				if claimed, err := s.Store.ClaimCheck(ctx, d.ID, s.Settings.CheckPeriod); err != nil || !claimed {
					continue
				}
				checked.Add(1)
				if after := s.advance(ctx, d); !reflect.DeepEqual(after, d) {
					changed.Add(1)
				}
			}
		}()
	}
	var err error
	cursor := ""
pages:
	for {
		var page []deliberation.Deliberation
		page, cursor, err = s.Store.Active(ctx, cursor, reconcilePage)
		if err != nil {
			break
		}
		for _, d := range page {
			select {
			case work <- d:
			case <-ctx.Done():
				report.Partial = true
				break pages
			}
		}
		if cursor == "" {
			break
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() == nil {
		s.sweep(ctx)
		s.finishStops(ctx)
	}
	report.Checked, report.Changed = int(checked.Load()), int(changed.Load())
	if err != nil && ctx.Err() != nil {
		report.Partial, err = true, nil
	}
	s.Log.InfoContext(ctx, "reconcile pass", "checked", report.Checked, "changed", report.Changed, "partial", report.Partial)
	return report, err
}

const reconcilePage = 100

// finishStops stops the Ray side of every cancelled deliberation a crash (or an unreachable Ray)
// left running, within ctx.
func (s *Service) finishStops(ctx context.Context) {
	after := ""
	for ctx.Err() == nil {
		ids, err := s.Store.Stopping(ctx, after, reconcilePage)
		if err != nil || len(ids) == 0 {
			return
		}
		for _, id := range ids {
			d, err := s.Store.Get(ctx, id)
			switch {
			case deliberation.ErrorCode(err) == deliberation.CodeNotFound:
				_ = s.Store.Stopped(ctx, id)
			case err == nil && d.Status == deliberation.StatusCancelled:
				s.stopCancelled(ctx, d, false)
			case err == nil:
				_ = s.Store.Stopped(ctx, id)
			}
		}
		after = ids[len(ids)-1]
	}
}

// deliverPending runs the publisher's outbox drain in the background and closes the channel it
// returns when done. An undelivered event is logged, not returned: it waits in the outbox, and a
// failed pass would only make the PingSource retry what the next tick does anyway.
func (s *Service) deliverPending(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if s.Events == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := s.Events.DeliverPending(ctx); err != nil {
			s.Log.WarnContext(ctx, "lifecycle events wait in the outbox", "error", err)
		}
	}()
	return done
}
