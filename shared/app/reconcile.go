package app

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

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

// Wake handles a job's finished wake-up, which anyone may send: it is answered at once and carries
// no authority. The id is checked and, for an active deliberation, a follow-up runs in the
// background (followWake); unknown ids, finished deliberations and forged wake-ups change nothing.
// One follow-up per deliberation runs at a time across replicas (the wake marker, held WakeWait).
func (s *Service) Wake(ctx context.Context, id string) error {
	if !deliberation.ValidID(id) {
		return nil
	}
	d, err := s.Store.Get(ctx, id)
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Status.Terminal() {
		return nil
	}
	if claimed, err := s.Store.ClaimCheck(ctx, "wake:"+id, s.Settings.WakeWait); err != nil || !claimed {
		return err
	}
	// The job gives up on its wake-up after a short timeout, and only then can its driver exit and
	// Ray report the job terminal: the follow-up must outlive the request that started it.
	s.pending.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Settings.WakeWait)
		defer cancel()
		s.followWake(ctx, d)
	})
	return nil
}

// followWake asks Ray about d's job until it reports the job terminal, then records what Ray says.
// Each question first claims a marker of wakePoll, so wake-ups cost Ray at most one status query
// per deliberation per wakePoll across replicas, however many are sent, even where two follow-ups
// overlap at the edges of their wake markers.
func (s *Service) followWake(ctx context.Context, d deliberation.Deliberation) {
	for {
		if claimed, err := s.Store.ClaimCheck(ctx, "wake-poll:"+d.ID, wakePoll); err == nil && claimed {
			if st, err := s.Ray.Status(ctx, d.SubmissionID); err == nil && st.State.Terminal() {
				s.apply(ctx, d, st, nil)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wakePoll):
		}
	}
}

// wakePoll is the least time between two of the wake-ups' status queries about one deliberation.
const wakePoll = time.Second
