package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Page bounds of the active jobs listing.
const (
	DefaultJobsLimit = 100
	MaxJobsLimit     = 1000
)

// JobsPage is the active jobs response.
type JobsPage struct {
	Jobs       []deliberation.JobInfo `json:"jobs"`
	NextCursor string                 `json:"next_cursor"`
}

// ActiveJobs lists the jobs of active deliberations (Reads.ActiveJobs).
func (s *Service) ActiveJobs(ctx context.Context, limit int, cursor string) (JobsPage, error) {
	return s.reads().ActiveJobs(ctx, limit, cursor)
}

// ActiveJobs lists the jobs of active deliberations, oldest first, one page at a time. Its cost is
// that of the page, whatever the history holds.
func (r Reads) ActiveJobs(ctx context.Context, limit int, cursor string) (JobsPage, error) {
	if limit < 1 || limit > MaxJobsLimit {
		return JobsPage{}, &deliberation.Error{Code: deliberation.CodeInvalid, Message: "invalid page",
			Fields: []deliberation.FieldError{{Field: "limit", Message: "limit must be between 1 and 1000"}}}
	}
	// An operator lists every deliberation; a caller its own, from an index of its own.
	caller := callers.From(ctx)
	list := r.Store.Active
	if !caller.SeesAll() {
		list = func(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
			return r.Store.ActiveOf(ctx, caller.Name, cursor, limit)
		}
	}
	entries, next, err := list(ctx, cursor, limit)
	if err != nil {
		return JobsPage{}, err
	}
	now := r.Clock.Now()
	page := JobsPage{Jobs: make([]deliberation.JobInfo, 0, len(entries)), NextCursor: next}
	for _, d := range entries {
		if job, err := deliberation.JobInfoOf(d, now); err == nil {
			page.Jobs = append(page.Jobs, job)
		}
	}
	return page, nil
}
