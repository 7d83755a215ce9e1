package fakes

import (
	"context"
	"sync"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.RayCluster = (*Ray)(nil)

// Ray is a function-field mock of app.RayCluster. A nil field behaves as a healthy Ray that knows
// every submitted job as PENDING; calls are recorded for assertions.
type Ray struct {
	SubmitFn func(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error
	StatusFn func(ctx context.Context, submissionID string) (app.AttemptStatus, error)
	ResultFn func(ctx context.Context, submissionID string) (deliberation.Result, error)
	StopFn   func(ctx context.Context, submissionID string) error
	DeleteFn func(ctx context.Context, submissionID string) error
	ListFn   func(ctx context.Context) ([]app.Attempt, error)

	mu    sync.Mutex
	calls map[string][]string
}

// Calls returns the submission ids passed to method ("Submit", "Status", ...), in order.
func (r *Ray) Calls(method string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls[method]...)
}

func (r *Ray) record(method, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string][]string{}
	}
	r.calls[method] = append(r.calls[method], id)
}

func (r *Ray) Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error {
	r.record("Submit", d.SubmissionID)
	if r.SubmitFn != nil {
		return r.SubmitFn(ctx, d, req)
	}
	return nil
}

func (r *Ray) Status(ctx context.Context, id string) (app.AttemptStatus, error) {
	r.record("Status", id)
	if r.StatusFn != nil {
		return r.StatusFn(ctx, id)
	}
	return app.AttemptStatus{State: deliberation.JobPending}, nil
}

func (r *Ray) Result(ctx context.Context, id string) (deliberation.Result, error) {
	r.record("Result", id)
	if r.ResultFn != nil {
		return r.ResultFn(ctx, id)
	}
	return deliberation.Result{}, deliberation.Errorf(deliberation.CodeNotFound, "no result for %s", id)
}

func (r *Ray) Stop(ctx context.Context, id string) error {
	r.record("Stop", id)
	if r.StopFn != nil {
		return r.StopFn(ctx, id)
	}
	return nil
}

func (r *Ray) Delete(ctx context.Context, id string) error {
	r.record("Delete", id)
	if r.DeleteFn != nil {
		return r.DeleteFn(ctx, id)
	}
	return nil
}

func (r *Ray) List(ctx context.Context) ([]app.Attempt, error) {
	r.record("List", "")
	if r.ListFn != nil {
		return r.ListFn(ctx)
	}
	return nil, nil
}
