package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Settings are the rules the use cases follow, taken from configuration.
type Settings struct {
	Limits deliberation.Limits
	// MaxActive refuses new deliberations while this many are active.
	MaxActive int
	// MaxQueueLag refuses new deliberations while the runners' queue holds this many attempts no
	// runner has taken (0: no bound). Only a service with a Backlog checks it.
	MaxQueueLag int64
	// LagFresh is how long one reading of the queue's lag answers the executes of this instance,
	// so a burst of executes costs Redis one read per period, not one each.
	LagFresh time.Duration
	// SubmitTimeout bounds execute's attempt to reach Ray; past it the deliberation waits queued.
	SubmitTimeout time.Duration
	// CheckPeriod is the least time between two Ray status checks of one deliberation.
	CheckPeriod time.Duration
	// PendingLimit fails a job Ray keeps PENDING for longer (when its deadline is later).
	PendingLimit time.Duration
	// RepairAge is how old an entry must be before a missing Ray job is repaired: younger ones may
	// be mid-step in another replica.
	RepairAge time.Duration
	// DeadlineGrace lets a job finish its own deadline handling before the service fails it.
	DeadlineGrace time.Duration
	// ReconcileBudget bounds one reconcile pass, under the 30 s request limit of the runtime.
	ReconcileBudget time.Duration
	// ReconcileWorkers bounds how many deliberations a pass advances at once.
	ReconcileWorkers int
	// WakeWait bounds how long the follow-up of a finished wake-up waits, in the background, for
	// Ray to report the job terminal.
	WakeWait time.Duration
	// WakePoll is the least time between two of the wake-ups' status queries about one
	// deliberation, across replicas.
	WakePoll time.Duration
	// DeleteTimeout bounds the delete of a finished attempt's record on Ray (cleanup): the record
	// only costs Ray memory, and the reconcile pass deletes what is left, so no step waits long.
	DeleteTimeout time.Duration
}

// DefaultSettings are the rules where configuration sets none: shared/wiring starts from them.
func DefaultSettings() Settings {
	return Settings{
		Limits:    deliberation.Limits{MaxAgents: deliberation.DefaultMaxAgents},
		MaxActive: 100, MaxQueueLag: 10000, LagFresh: 250 * time.Millisecond,
		SubmitTimeout: 3 * time.Second, CheckPeriod: time.Second,
		PendingLimit: 15 * time.Minute, RepairAge: 5 * time.Second, DeadlineGrace: 5 * time.Second,
		ReconcileBudget: 20 * time.Second, ReconcileWorkers: 8, WakeWait: 10 * time.Second,
		WakePoll: time.Second, DeleteTimeout: 2 * time.Second,
	}
}

// Service runs the use cases (Execute, Status, Cancel, Stats, ActiveJobs, Reconcile, Wake) over
// its ports; every change of a deliberation goes through the lifecycle steps (lifecycle.go).
// Events may be nil. Its fields are set once, before the first call.
type Service struct {
	Store  StateStore
	Ray    RayCluster
	Events EventPublisher
	// Backlog is the runners' queue in the serve dispatch; nil where there is none (jobs).
	Backlog RunnerBacklog
	Clock   Clock
	IDs     IDSource
	// Limiter holds the callers' submit rates; nil: no rate is enforced.
	Limiter SubmitLimiter
	// Secrets key the ids of idempotency keys; nil only in tests (a fixed key).
	Secrets  IDSecrets
	Settings Settings
	Log      *slog.Logger
	// Placed counts an attempt recorded on a Ray cluster (once per attempt and cluster, whichever
	// replica records it); nil counts nothing.
	Placed func(cluster string)
	// Finished counts a deliberation that reached status (completed, failed or cancelled), with
	// the cluster of its last attempt ("" when Ray named none), once; nil counts nothing.
	Finished func(cluster string, status deliberation.Status)

	// pending counts the work started after an answer (later, followWake), which Wait lets finish.
	pending sync.WaitGroup
	// lag is the last reading of Backlog, reused for LagFresh.
	lag lagReading
}

// later runs f once the caller has its answer: detached from the request's cancellation, bounded
// by SubmitTimeout. Only bookkeeping that a later status check would also do goes here.
func (s *Service) later(ctx context.Context, f func(context.Context)) {
	s.pending.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Settings.SubmitTimeout)
		defer cancel()
		f(ctx)
	})
}

// Wait returns once the work started by later and the wake-ups' follow-ups are done, or when ctx
// ends: shutdown calls it before closing the adapters that work uses.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewService wires a service with the real clock and ids; a nil logger discards logs.
func NewService(store StateStore, ray RayCluster, events EventPublisher, settings Settings, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Ray: ray, Events: events, Clock: SystemClock{}, IDs: RandomIDs{}, Settings: settings, Log: log}
}

// reads are the read-only use cases over this service's store and clock.
func (s *Service) reads() Reads { return Reads{Store: s.Store, Clock: s.Clock} }
