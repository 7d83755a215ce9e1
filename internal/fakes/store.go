// Package fakes holds in-memory fakes of the application's ports, for tests only. The store fake
// passes the same contract suite as the Redis adapter; the others are function-field mocks.
package fakes

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	_ app.StateStore = (*Store)(nil)
	_ app.Outbox     = (*Store)(nil)
)

// Store is an in-memory app.StateStore and app.Outbox guarded by one mutex. Err, when set, fails
// every call as an unreachable Redis would.
type Store struct {
	mu       sync.Mutex
	entries  map[string]deliberation.Deliberation
	requests map[string]deliberation.Request
	// prints are the requests' fingerprints, which outlive the requests (dropped when terminal).
	prints   map[string]string
	checks   map[string]time.Time
	stopping map[string]bool
	stats    deliberation.StatsDelta
	since    time.Time
	outbox   *outbox
	Err      error
}

// NewStore returns an empty store that records no events, as the Redis store with events off.
func NewStore() *Store {
	return &Store{entries: map[string]deliberation.Deliberation{}, requests: map[string]deliberation.Request{}, prints: map[string]string{}, checks: map[string]time.Time{}, stopping: map[string]bool{}}
}

// NewStoreWithOutbox returns an empty store that records the events of its transitions.
func NewStoreWithOutbox() *Store {
	s := NewStore()
	s.outbox = newOutbox()
	return s
}

// SetErr makes every later call fail with err (nil heals the store).
func (s *Store) SetErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Err = err
}

func (s *Store) failure() error {
	if s.Err != nil {
		return deliberation.Unavailable(s.Err, "state store unavailable")
	}
	return nil
}

func (s *Store) Create(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive int) (deliberation.Deliberation, bool, error) {
	return s.CreateAs(ctx, d, req, maxActive, 0)
}

// CreateAs is Create with a bound on the active deliberations of d's caller.
func (s *Store) CreateAs(_ context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive, callerMax int) (deliberation.Deliberation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return d, false, err
	}
	if existing, ok := s.entries[d.ID]; ok {
		if s.prints[d.ID] != req.Fingerprint() {
			return d, false, deliberation.Errorf(deliberation.CodeConflict, "Idempotency-Key was used with another request")
		}
		return existing, false, nil
	}
	if maxActive > 0 && s.stats.Active >= int64(maxActive) {
		return d, false, deliberation.Errorf(deliberation.CodeTooMany, "more than %d deliberations are active", maxActive)
	}
	if callerMax > 0 && d.Caller != "" && len(s.activeOf(d.Caller)) >= callerMax {
		return d, false, deliberation.Errorf(deliberation.CodeTooMany, "caller %s has %d deliberations active, its bound", d.Caller, callerMax)
	}
	s.entries[d.ID], s.requests[d.ID], s.prints[d.ID] = d, req, req.Fingerprint()
	s.apply(deliberation.DeltaOf(deliberation.Deliberation{}, d))
	s.outbox.record(deliberation.Deliberation{}, d)
	if s.since.IsZero() {
		s.since = d.SubmittedAt
	}
	return d, true, nil
}

func (s *Store) Get(_ context.Context, id string) (deliberation.Deliberation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return deliberation.Deliberation{}, err
	}
	d, ok := s.entries[id]
	if !ok {
		return d, deliberation.Errorf(deliberation.CodeNotFound, "Deliberation %s not found", id)
	}
	return d, nil
}

func (s *Store) Request(_ context.Context, id string) (deliberation.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return deliberation.Request{}, err
	}
	r, ok := s.requests[id]
	if !ok {
		return r, deliberation.Errorf(deliberation.CodeNotFound, "request of %s not found", id)
	}
	return r, nil
}

func (s *Store) Update(_ context.Context, id string, change app.Change) (deliberation.Deliberation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return deliberation.Deliberation{}, false, err
	}
	before, ok := s.entries[id]
	if !ok {
		return before, false, deliberation.Errorf(deliberation.CodeNotFound, "Deliberation %s not found", id)
	}
	after, changed := change(before)
	if !changed {
		return before, false, nil
	}
	s.entries[id] = after
	if after.Status.Terminal() {
		delete(s.requests, id) // as the Redis store: the request goes with the terminal transition
	}
	if after.Status == deliberation.StatusCancelled && !before.Status.Terminal() {
		s.stopping[id] = true
	}
	s.apply(deliberation.DeltaOf(before, after))
	s.outbox.record(before, after)
	return after, true, nil
}

// UpdateFrom is Update: the in-memory store has nothing to save by trusting known.
func (s *Store) UpdateFrom(ctx context.Context, known deliberation.Deliberation, change app.Change) (deliberation.Deliberation, bool, error) {
	return s.Update(ctx, known.ID, change)
}

func (s *Store) apply(d deliberation.StatsDelta) {
	s.stats.Total += d.Total
	s.stats.Active += d.Active
	s.stats.Completed += d.Completed
	s.stats.Failed += d.Failed
	s.stats.Cancelled += d.Cancelled
	s.stats.ExecutionTimeSumMS += d.ExecutionTimeSumMS
	s.stats.TimedCount += d.TimedCount
}

func (s *Store) Stats(context.Context) (deliberation.ExecutionStats, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return deliberation.ExecutionStats{}, time.Time{}, err
	}
	c := s.stats
	st, err := deliberation.NewExecutionStats(c.Total, c.Active, c.Completed, c.Failed, c.Cancelled, c.ExecutionTimeSumMS, c.TimedCount)
	return st, s.since, err
}

// Active sorts the active entries on every call: fine for a fake, which is never measured.
func (s *Store) Active(_ context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.page(s.activeOf(""), cursor, limit)
}

// ActiveOf is Active over the deliberations of one caller.
func (s *Store) ActiveOf(_ context.Context, caller, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if caller == "" {
		return nil, "", s.failure()
	}
	return s.page(s.activeOf(caller), cursor, limit)
}

// activeOf lists the non-terminal entries of caller ("": of everyone).
func (s *Store) activeOf(caller string) []deliberation.Deliberation {
	var active []deliberation.Deliberation
	for _, d := range s.entries {
		if !d.Status.Terminal() && (caller == "" || d.Caller == caller) {
			active = append(active, d)
		}
	}
	return active
}

func (s *Store) page(active []deliberation.Deliberation, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	if err := s.failure(); err != nil {
		return nil, "", err
	}
	sort.Slice(active, func(i, j int) bool { return less(active[i], active[j]) })
	start := 0
	if cursor != "" {
		ms, id, ok := strings.Cut(cursor, ".")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || !deliberation.ValidID(id) {
			return nil, "", &deliberation.Error{Code: deliberation.CodeInvalid, Message: "invalid cursor",
				Fields: []deliberation.FieldError{{Field: "cursor", Message: "cursor is not one this service returned"}}}
		}
		mark := deliberation.Deliberation{ID: id, SubmittedAt: time.UnixMilli(n)}
		start = sort.Search(len(active), func(i int) bool { return less(mark, active[i]) })
	}
	end := min(start+limit, len(active))
	page := append([]deliberation.Deliberation(nil), active[start:end]...)
	next := ""
	if end < len(active) && len(page) > 0 {
		last := page[len(page)-1]
		next = strconv.FormatInt(last.SubmittedAt.UnixMilli(), 10) + "." + last.ID
	}
	return page, next, nil
}

func less(a, b deliberation.Deliberation) bool {
	am, bm := a.SubmittedAt.UnixMilli(), b.SubmittedAt.UnixMilli()
	return am < bm || am == bm && a.ID < b.ID
}

func (s *Store) ClaimCheck(_ context.Context, id string, period time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return false, err
	}
	now := time.Now()
	if until, ok := s.checks[id]; ok && now.Before(until) {
		return false, nil
	}
	s.checks[id] = now.Add(period)
	return true, nil
}

func (s *Store) Stopping(_ context.Context, after string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return nil, err
	}
	var ids []string
	for id := range s.stopping {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids[:min(len(ids), max(limit, 1))], nil
}

func (s *Store) Stopped(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failure(); err != nil {
		return err
	}
	delete(s.stopping, id)
	return nil
}
