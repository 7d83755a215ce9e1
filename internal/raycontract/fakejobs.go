package raycontract

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// FakeJobsAdapter drives port's attempts held on fake Jobs APIs: update changes the job of a
// submission id wherever it is (failing the test when no fake has it), and resultLine is the log
// line a succeeded job prints its result on.
func FakeJobsAdapter(port app.RayCluster, update func(t *testing.T, id string, f func(*raytest.Job)), resultLine string) Adapter {
	return Adapter{Port: port,
		Start: func(t *testing.T, d deliberation.Deliberation) {
			update(t, d.SubmissionID, func(j *raytest.Job) {
				// Started and ended in the past: Ray lets a job be deleted only once its monitor
				// has let go of it.
				j.Status, j.StartTime = deliberation.JobRunning, time.Now().Add(-time.Minute).UnixMilli()
			})
		},
		Finish: func(t *testing.T, d deliberation.Deliberation, succeeded bool) {
			update(t, d.SubmissionID, func(j *raytest.Job) {
				j.EndTime = time.Now().Add(-30 * time.Second).UnixMilli()
				code := 0
				if succeeded {
					j.Status, j.Logs = deliberation.JobSucceeded, resultLine+"\n"
				} else {
					code = 3
					j.Status, j.ErrorType, j.Message = deliberation.JobFailed, "JOB_ENTRYPOINT_COMMAND_ERROR", "Job entrypoint command failed with exit code 3"
				}
				j.DriverExitCode = &code
			})
		}}
}
