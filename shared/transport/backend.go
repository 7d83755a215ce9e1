package transport

import (
	"context"

	"github.com/rayexecutor/functions/shared/app"
)

// UseCases are the four use cases (and cancel, served by the status function) the functions serve; *app.Service implements them.
type UseCases interface {
	Execute(ctx context.Context, cmd app.ExecuteCommand) (app.Submission, error)
	Status(ctx context.Context, id string) (app.StatusReport, error)
	Stats(ctx context.Context) (app.StatsReport, error)
	ActiveJobs(ctx context.Context, limit int, cursor string) (app.JobsPage, error)
	Cancel(ctx context.Context, id, reason string) (app.CancelResult, error)
}

// Waker handles the finished wake-up a deliberation job sends: it carries no authority, so Wake
// trusts nothing but the (validated) id and answers nil for ids it does not know.
type Waker interface {
	Wake(ctx context.Context, id string) error
}

// WakeFunc adapts a function to Waker.
type WakeFunc func(ctx context.Context, id string) error

func (f WakeFunc) Wake(ctx context.Context, id string) error { return f(ctx, id) }

// Reconciler runs one reconcile pass, triggered by the PingSource.
type Reconciler interface {
	Reconcile(ctx context.Context) error
}

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(ctx context.Context) error

func (f ReconcileFunc) Reconcile(ctx context.Context) error { return f(ctx) }

// Backend is what a handler set calls. Waker and Reconciler may be nil: their events are then
// refused as unsupported, never silently dropped.
type Backend struct {
	UseCases   UseCases
	Waker      Waker
	Reconciler Reconciler
}
