package jobsrouter

import (
	"context"
	"errors"
	"fmt"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Status asks the attempt's cluster and names it in the answer. An attempt without a placement is
// looked for on every cluster, and placed where it is found. When its cluster cannot be reached
// while another could take the next attempt, the error carries app.ErrClusterLost.
func (r *Router) Status(ctx context.Context, submissionID string) (app.AttemptStatus, error) {
	m, at, err := r.lookup(ctx, submissionID)
	if err != nil {
		return app.AttemptStatus{}, err
	}
	if m != nil {
		st, err := m.Port.Status(ctx, submissionID)
		if err = r.note(m, err); err != nil {
			return st, r.lost(m, at.Pool, err)
		}
		st.Cluster = m.Name
		return st, nil
	}
	var st app.AttemptStatus
	found, err := r.search(ctx, submissionID, func(ctx context.Context, m *Member) error {
		var err error
		st, err = m.Port.Status(ctx, submissionID)
		return err
	})
	if err != nil {
		return app.AttemptStatus{}, err
	}
	st.Cluster = found.Name
	// Adopt it, so its later calls go to its cluster and its delete is counted there.
	if _, _, _, err := r.placed.place(ctx, submissionID, "", []candidate{{name: found.Name, capacity: found.Capacity}}, 0); err != nil {
		r.log.WarnContext(ctx, "attempt found on a cluster but not placed", "submission_id", submissionID, "cluster", found.Name, "error", err)
	}
	return st, nil
}

// lost marks an unavailable answer of m with app.ErrClusterLost when m has answered nothing else
// for LostAfter and another cluster could take the next attempt of pool ("" for an adopted
// attempt, whose pool is unknown: the default one is assumed).
func (r *Router) lost(m *Member, pool string, err error) error {
	if deliberation.ErrorCode(err) != deliberation.CodeUnavailable || r.downFor(m) < r.lostAfter {
		return err
	}
	if pool == "" {
		pool = deliberation.DefaultPool
	}
	if len(r.eligible(pool, m.Name)) == 0 {
		return err
	}
	return &deliberation.Error{Code: deliberation.CodeUnavailable,
		Message: fmt.Sprintf("Ray cluster %s is unreachable", m.Name), Cause: errors.Join(app.ErrClusterLost, err)}
}

// Result reads the attempt's result from its cluster.
func (r *Router) Result(ctx context.Context, submissionID string) (deliberation.Result, error) {
	var res deliberation.Result
	_, err := r.route(ctx, submissionID, func(ctx context.Context, m *Member) error {
		var err error
		res, err = m.Port.Result(ctx, submissionID)
		return err
	})
	return res, err
}

// Stop stops the attempt on its cluster.
func (r *Router) Stop(ctx context.Context, submissionID string) error {
	_, err := r.route(ctx, submissionID, func(ctx context.Context, m *Member) error {
		return m.Port.Stop(ctx, submissionID)
	})
	return err
}

// Delete deletes the attempt's record from its cluster; once it is gone there (deleted now, or
// already), its placement is forgotten and its cluster's outstanding count drops.
func (r *Router) Delete(ctx context.Context, submissionID string) error {
	m, err := r.route(ctx, submissionID, func(ctx context.Context, m *Member) error {
		return m.Port.Delete(ctx, submissionID)
	})
	if m == nil || (err != nil && deliberation.ErrorCode(err) != deliberation.CodeNotFound) {
		return err
	}
	if uerr := r.placed.unplace(ctx, submissionID, m.Name); uerr != nil {
		return uerr
	}
	return err
}

// route runs call on the attempt's cluster, or, without a placement, on every cluster until one
// has it. It returns the cluster that answered: the placed one whatever it said, or the one that
// had it; nil when none had it or the placement could not be read.
func (r *Router) route(ctx context.Context, submissionID string, call func(context.Context, *Member) error) (*Member, error) {
	m, _, err := r.lookup(ctx, submissionID)
	if err != nil {
		return nil, err
	}
	if m != nil {
		return m, r.note(m, call(ctx, m))
	}
	return r.search(ctx, submissionID, call)
}

// search runs call on each cluster in turn until one answers other than not_found. All not_found
// is not_found; with some unreachable, it is their error.
func (r *Router) search(ctx context.Context, submissionID string, call func(context.Context, *Member) error) (*Member, error) {
	var notFound, other error
	for i := range r.members {
		m := &r.members[i]
		err := r.note(m, call(ctx, m))
		switch code := deliberation.ErrorCode(err); {
		case err == nil:
			return m, nil
		case code == deliberation.CodeNotFound:
			notFound = err
		case code == deliberation.CodeUnavailable:
			other = err
		default:
			return m, err // the cluster has it and answered: a conflict, an unreadable result
		}
	}
	if other != nil {
		return nil, other
	}
	if notFound == nil {
		notFound = deliberation.Errorf(deliberation.CodeNotFound, "no Ray cluster has job %s", submissionID)
	}
	return nil, notFound
}

// List is the union of every cluster's attempts, each naming its cluster. A cluster that cannot
// be reached is logged and left out; only when none answers is it an error.
func (r *Router) List(ctx context.Context) ([]app.Attempt, error) {
	var all []app.Attempt
	var errs []error
	for _, m := range r.members {
		got, err := m.Port.List(ctx)
		if err = r.note(&m, err); err != nil {
			r.log.WarnContext(ctx, "ray cluster left out of the list", "cluster", m.Name, "error", err)
			errs = append(errs, err)
			continue
		}
		for _, a := range got {
			a.Status.Cluster = m.Name
			all = append(all, a)
		}
	}
	if len(errs) == len(r.members) {
		return nil, errors.Join(errs...)
	}
	return all, nil
}
