// Package app holds the use cases of the Ray executor (execute, status, cancel, stats, active
// jobs), the reconcile pass and the jobs' wake-ups, the lifecycle steps that every change of a
// deliberation goes through (lifecycle.go), and the small ports they need, declared here. It knows
// no technology: shared/wiring plugs the Redis, Ray and NATS adapters into it.
package app

import (
	"context"
	"errors"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// StateStore keeps the registry, the active index and the statistics. Every method that changes
// state does so in one atomic step and reports whether this caller's change won.
type StateStore interface {
	// Create stores a new entry, its request, and counts it, unless an entry with that id exists:
	// then it returns the existing entry and false, or a conflict error when req differs from the
	// stored request. It refuses with too_many when maxActive deliberations are active.
	Create(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive int) (deliberation.Deliberation, bool, error)
	// CreateAs is Create that also refuses with too_many when callerMax (> 0) deliberations of
	// d.Caller are active, checked in the same atomic step.
	CreateAs(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive, callerMax int) (deliberation.Deliberation, bool, error)
	// Get returns an entry, or a not_found error.
	Get(ctx context.Context, id string) (deliberation.Deliberation, error)
	// Request returns the request stored with an entry.
	Request(ctx context.Context, id string) (deliberation.Request, error)
	// Update applies change to the current entry atomically; when change reports a change, the new
	// entry is stored with its counter delta and Update returns it with true.
	Update(ctx context.Context, id string, change Change) (deliberation.Deliberation, bool, error)
	// UpdateFrom is Update for a caller holding known, the entry as the store last held it (as
	// Create, Get or Update returned it): change applies to the stored entry, whatever it is now,
	// but the store may skip reading it when it still equals known.
	UpdateFrom(ctx context.Context, known deliberation.Deliberation, change Change) (deliberation.Deliberation, bool, error)
	// Stats returns the counters as one consistent snapshot and when this Redis first saw state.
	Stats(ctx context.Context) (deliberation.ExecutionStats, time.Time, error)
	// Active returns up to limit non-terminal entries, oldest first, after cursor ("" for the start),
	// and the cursor of the next page ("" at the end).
	Active(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error)
	// ActiveOf is Active over the deliberations caller created.
	ActiveOf(ctx context.Context, caller, cursor string, limit int) ([]deliberation.Deliberation, string, error)
	// ClaimCheck takes the per-deliberation marker that limits Ray status checks to one per period
	// across all replicas; false means another caller checked recently.
	ClaimCheck(ctx context.Context, id string, period time.Duration) (bool, error)
	// Stopping returns up to limit ids of cancelled deliberations whose Ray side is not known to
	// be stopped yet, in id order, after the id after ("" for the start). The transition to
	// cancelled adds its id in the same atomic step.
	Stopping(ctx context.Context, after string, limit int) ([]string, error)
	// Stopped removes id from that index once its Ray side is stopped.
	Stopped(ctx context.Context, id string) error
}

// Change is a transition of an entry: it returns the new entry and whether anything changed.
type Change func(deliberation.Deliberation) (deliberation.Deliberation, bool)

// AttemptStatus is what the Ray side reports of one attempt: a run of a deliberation, under its
// submission id, by the Serve runner or as one Ray job. Ray's job states name it in both.
type AttemptStatus struct {
	State deliberation.JobState
	// Infrastructure is true when a FAILED attempt failed in Ray's machinery (supervisor, runtime
	// env, scheduling, a lost runner), not in the deliberation's own code: it may be run again.
	Infrastructure bool
	// Summary is a short, secret-free description of a failure (never Ray's whole message).
	Summary            string
	StartTime, EndTime time.Time
	// Cluster names the Ray cluster holding the attempt; empty when the Ray side does not say.
	Cluster string
}

// RayCluster runs the attempts of deliberations on Ray. Errors carry deliberation codes: not_found
// when the Ray side has no such attempt, unavailable when it cannot be reached. Every adapter
// passes the same contract suite.
type RayCluster interface {
	// Submit starts d's current attempt; an attempt the Ray side already has under that submission
	// id counts as success.
	Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error
	Status(ctx context.Context, submissionID string) (AttemptStatus, error)
	// Result reads the result the attempt produced.
	Result(ctx context.Context, submissionID string) (deliberation.Result, error)
	// Stop keeps a queued attempt from starting and ends a running one (its status turns
	// STOPPED); an attempt that already ended is left as it is. It answers nil for an attempt the
	// Ray side has, whatever its state, and not_found for one it has not.
	Stop(ctx context.Context, submissionID string) error
	// Delete removes a terminal attempt's record; it refuses (a conflict error) while the attempt
	// is queued or running, or, for a Ray job, just ended.
	Delete(ctx context.Context, submissionID string) error
	// List returns the attempts the Ray side holds for this service, with their deliberation
	// ids and status; a deleted attempt is no longer listed. The reconcile sweep stops superseded
	// attempts and deletes ended ones from it.
	List(ctx context.Context) ([]Attempt, error)
}

// ErrClusterLost marks a RayCluster error about an attempt whose Ray cluster cannot be reached
// while another cluster could run the next attempt (the jobs router over several clusters). An
// attempt stranded so for longer than Settings.PendingLimit is retried (once: the retry is a new
// attempt, placed elsewhere); a single cluster never reports it, so its outages are only waited out.
var ErrClusterLost = errors.New("the attempt's Ray cluster cannot be reached; another can take the next attempt")

// RunnerBacklog tells how far behind the Serve runners are: Lag counts the attempts waiting in
// their queue that no runner has taken yet. Only the serve dispatch has one (the jobs dispatch
// has no queue); execute refuses new deliberations while it is at Settings.MaxQueueLag.
type RunnerBacklog interface {
	Lag(ctx context.Context) (int64, error)
}

// Attempt is one of this service's attempts as the Ray side holds it.
type Attempt struct {
	SubmissionID   string
	DeliberationID string
	Status         AttemptStatus
}

// EventPublisher delivers the lifecycle events the state store recorded in its outbox, in the same
// atomic step as the transitions that caused them; nil when events are off (and then the store
// records none).
type EventPublisher interface {
	// Deliver publishes the pending events of one deliberation, in order, in the background: it
	// returns at once, so no request ever waits on the event bus. What it cannot publish now stays
	// in the outbox for a later Deliver or DeliverPending.
	Deliver(ctx context.Context, id string)
	// DeliverPending publishes the pending events of every deliberation, within ctx's deadline.
	DeliverPending(ctx context.Context) error
}

// Outbox is the state store's record of lifecycle events not yet delivered: a queue per
// deliberation, written only by the store's own transitions and emptied by the event publisher.
type Outbox interface {
	// Pending returns up to limit of id's undelivered events, oldest first.
	Pending(ctx context.Context, id string, limit int) ([]PendingEvent, error)
	// Ack removes e once it is published, only if it is still id's oldest pending event; false
	// means another deliverer removed it first. Concurrent deliverers thus never lose or reorder
	// events; at worst one is published twice, which the event bus's deduplication absorbs.
	Ack(ctx context.Context, id string, e PendingEvent) (bool, error)
	// PendingIDs returns up to limit ids of deliberations with pending events, in id order, after
	// the id after ("" for the start).
	PendingIDs(ctx context.Context, after string, limit int) ([]string, error)
}

// PendingEvent is one event waiting in the outbox. Receipt is the store's token for it, to be
// handed back to Ack.
type PendingEvent struct {
	deliberation.LifecycleEvent
	Receipt string
}

// SubmitLimiter is the token bucket of each caller's executes, shared by every replica.
type SubmitLimiter interface {
	// TakeSubmit takes one execute of caller's bucket (rate per second, burst at once): 0 when
	// taken, else how long until the next token.
	TakeSubmit(ctx context.Context, caller string, rate float64, burst int) (time.Duration, error)
}

// IDSecrets hold the key of the HMAC that turns idempotency keys into deliberation ids: the same
// on every replica, never shown to callers (ID_SECRET, or one generated once and kept in Redis).
type IDSecrets interface {
	IDSecret(ctx context.Context) ([]byte, error)
}

// StaticSecret is an ID_SECRET from configuration.
type StaticSecret []byte

func (s StaticSecret) IDSecret(context.Context) ([]byte, error) { return s, nil }

// Clock tells the time, so tests control it.
type Clock interface{ Now() time.Time }

// IDSource makes random deliberation ids, so tests control them.
type IDSource interface{ NewID() string }

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// RandomIDs is the real id source.
type RandomIDs struct{}

func (RandomIDs) NewID() string { return deliberation.NewID() }
