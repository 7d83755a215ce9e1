package ray

import (
	"context"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Job is one of this service's jobs as Ray holds it, for the reconcile pass to adopt.
type Job struct {
	SubmissionID   string
	DeliberationID string
	Status         app.JobStatus
}

// List returns the jobs whose metadata marks them as this service's. Entries whose ids are not
// ours in shape are left out: metadata is whatever a submitter wrote.
func (c *Cluster) List(ctx context.Context) ([]Job, error) {
	all, err := c.client.List(ctx)
	if err != nil {
		return nil, domainError(err, "list jobs")
	}
	var jobs []Job
	for _, j := range all {
		m := j.Metadata
		if m["app"] != AppName || !safeName(j.SubmissionID, maxIDLength) || !deliberation.ValidID(m["deliberation_id"]) {
			continue
		}
		jobs = append(jobs, Job{SubmissionID: j.SubmissionID, DeliberationID: m["deliberation_id"], Status: statusOf(j)})
	}
	return jobs, nil
}
