package transport

import (
	"context"
	"fmt"

	"github.com/rayexecutor/functions/shared/app"
)

// The use cases the surfaces call, one interface each, declared here where they are used: a
// function gets only those its catalogue entry lists, so the handlers of the read-only functions
// hold nothing that could reach Ray. *app.Service implements them all.
type (
	Executor interface {
		Execute(ctx context.Context, cmd app.ExecuteCommand) (app.Submission, error)
	}
	StatusReader interface {
		Status(ctx context.Context, id string) (app.StatusReport, error)
	}
	Canceller interface {
		Cancel(ctx context.Context, id, reason string) (app.CancelResult, error)
	}
	StatsReader interface {
		Stats(ctx context.Context) (app.StatsReport, error)
	}
	JobsLister interface {
		ActiveJobs(ctx context.Context, limit int, cursor string) (app.JobsPage, error)
	}
	// Waker handles the finished wake-up a deliberation job sends: it carries no authority, so
	// Wake trusts nothing but the (validated) id and answers nil for ids it does not know.
	Waker interface {
		Wake(ctx context.Context, id string) error
	}
	// Reconciler runs one reconcile pass, triggered by the PingSource.
	Reconciler interface {
		Reconcile(ctx context.Context) error
	}
)

// WakeFunc adapts a function to Waker.
type WakeFunc func(ctx context.Context, id string) error

func (f WakeFunc) Wake(ctx context.Context, id string) error { return f(ctx, id) }

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(ctx context.Context) error

func (f ReconcileFunc) Reconcile(ctx context.Context) error { return f(ctx) }

// Backend is what a function's surfaces call: one field per use case. A function's backend must
// hold every use case of its catalogue entry (Check); no route, event type or procedure of the
// function reaches the others, which the read-only functions are not given at all.
type Backend struct {
	Execute   Executor
	Status    StatusReader
	Cancel    Canceller
	Stats     StatsReader
	Jobs      JobsLister
	Wake      Waker
	Reconcile Reconciler
}

// Check reports a use case that f serves and b lacks, so a function never starts with a route that
// would call nothing.
func (b Backend) Check(f Function) error {
	e, ok := Catalogue[f]
	if !ok {
		return fmt.Errorf("transport: unknown function %q", f)
	}
	for u := range e.UseCases() {
		if !b.Has(u) {
			return fmt.Errorf("transport: %s serves %s but its backend has no such use case", f, u)
		}
	}
	return nil
}

// Has reports whether b holds use case u.
func (b Backend) Has(u UseCase) bool {
	switch u {
	case UseExecute:
		return b.Execute != nil
	case UseStatus:
		return b.Status != nil
	case UseCancel:
		return b.Cancel != nil
	case UseStats:
		return b.Stats != nil
	case UseJobs:
		return b.Jobs != nil
	case UseWake:
		return b.Wake != nil
	case UseReconcile:
		return b.Reconcile != nil
	}
	return false
}

// StatsFunc adapts a function to StatsReader.
type StatsFunc func(ctx context.Context) (app.StatsReport, error)

func (f StatsFunc) Stats(ctx context.Context) (app.StatsReport, error) { return f(ctx) }

// JobsFunc adapts a function to JobsLister.
type JobsFunc func(ctx context.Context, limit int, cursor string) (app.JobsPage, error)

func (f JobsFunc) ActiveJobs(ctx context.Context, limit int, cursor string) (app.JobsPage, error) {
	return f(ctx, limit, cursor)
}
