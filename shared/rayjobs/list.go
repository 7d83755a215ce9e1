package rayjobs

import (
	"context"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// List returns the jobs whose metadata marks them as this service's and this registry's (owner). Entries whose ids are not
// ours in shape are left out: metadata is whatever a submitter wrote.
func (c *Cluster) List(ctx context.Context) ([]app.Attempt, error) {
	all, err := c.client.List(ctx)
	if err != nil {
		return nil, domainError(err, "list jobs")
	}
	var jobs []app.Attempt
	for _, j := range all {
		m := j.Metadata
		if m["app"] != AppName || m["owner"] != c.owner || !safeName(j.SubmissionID, maxIDLength) || !deliberation.ValidID(m["deliberation_id"]) {
			continue
		}
		jobs = append(jobs, app.Attempt{SubmissionID: j.SubmissionID, DeliberationID: m["deliberation_id"], Status: statusOf(j)})
	}
	return jobs, nil
}
