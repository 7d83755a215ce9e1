package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Race runs the spec's race and returns every invariant violation it observed: 100 goroutines
// complete or fail the same deliberation (half of them through UpdateFrom), 50 submit with one
// idempotency key, and readers sample the statistics throughout, checking invariants 1, 2 and 4 at
// every read.
func Race(t *testing.T, s app.StateStore) []string {
	t.Helper()
	ctx := context.Background()
	req := Request(t, "race")
	target := Entry(deliberation.IDFromKey("race-target"), req, 0)
	if _, _, err := s.Create(ctx, target, req, 0); err != nil {
		t.Fatalf("create target: %v", err)
	}
	var (
		violations violationLog
		wins       atomic.Int64
		creations  atomic.Int64
		ids        sync.Map
		writers    sync.WaitGroup
		readers    sync.WaitGroup
		done       = make(chan struct{})
		reads      atomic.Int64
	)
	violate := violations.add
	res := Result(t)
	start := make(chan struct{})
	for i := range 100 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			<-start
			now := Epoch.Add(time.Minute)
			change := func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
				if i%2 == 0 {
					return d.Complete(res, 1000, now)
				}
				return d.Fail("failed by racer", now)
			}
			update := func() (deliberation.Deliberation, bool, error) { return s.Update(ctx, target.ID, change) }
			if i%4 < 2 { // half start from the entry as created, stale after the first win
				update = func() (deliberation.Deliberation, bool, error) { return s.UpdateFrom(ctx, target, change) }
			}
			_, won, err := update()
			if err != nil {
				violate("update %d: %v", i, err)
			}
			if won {
				wins.Add(1)
			}
		}()
	}
	keyID := deliberation.IDFromKey("race-key")
	for i := range 50 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			<-start
			d, created, err := s.Create(ctx, Entry(keyID, req, time.Duration(i)*time.Millisecond), req, 0)
			if err != nil {
				violate("create %d: %v", i, err)
				return
			}
			if created {
				creations.Add(1)
			}
			ids.Store(d.ID, true)
		}()
	}
	watchStats(ctx, s, &readers, &reads, done, violate, func(st deliberation.ExecutionStats) {
		if st.TotalDeliberations < 1 || st.TotalDeliberations > 2 {
			violate("invariant 1/4: total %d, want 1 or 2", st.TotalDeliberations)
		}
		if n := st.CompletedDeliberations + st.FailedDeliberations + st.CancelledDeliberations; n > 1 {
			violate("invariant 1: finished %d times", n)
		}
	})
	close(start)
	writers.Wait()
	close(done)
	readers.Wait()

	if n := wins.Load(); n != 1 {
		violate("invariant 1: %d callers won the terminal transition, want 1", n)
	}
	if n := creations.Load(); n != 1 {
		violate("invariant 4: %d creations for one idempotency key, want 1", n)
	}
	ids.Range(func(k, _ any) bool {
		if k.(string) != keyID {
			violate("invariant 4: replay answered %s, want %s", k, keyID)
		}
		return true
	})
	// Counters a non-atomic store corrupted (active below zero) do not even read back: that is a
	// violation to report, not a reason to stop the test that looks for them.
	st, _, err := s.Stats(ctx)
	if err != nil {
		violate("final stats: %v", err)
	} else if st.TotalDeliberations != 2 || st.ActiveDeliberations != 1 || st.CompletedDeliberations+st.FailedDeliberations != 1 {
		violate("final stats %+v, want total 2, active 1, one finished", st)
	}
	if reads.Load() == 0 {
		t.Fatal("no concurrent read happened")
	}
	return violations.all()
}

// watchStats starts readers that sample the counters until done closes, checking invariant 2 at
// every read and then check; each read is counted in reads, so a race that read nothing fails.
func watchStats(ctx context.Context, s app.StateStore, readers *sync.WaitGroup, reads *atomic.Int64, done <-chan struct{},
	violate func(string, ...any), check func(deliberation.ExecutionStats)) {
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				st, _, err := s.Stats(ctx)
				reads.Add(1)
				if err != nil {
					violate("stats: %v", err)
					continue
				}
				if err := st.Consistent(); err != nil {
					violate("invariant 2: %v", err)
				}
				check(st)
			}
		})
	}
}

// violationLog collects what a race broke, from any goroutine.
type violationLog struct {
	mu   sync.Mutex
	list []string
}

func (v *violationLog) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.list = append(v.list, fmt.Sprintf(format, args...))
}

func (v *violationLog) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.list)
}
