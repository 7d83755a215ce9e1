package jobsrouter_test

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// The port's contract on the router over two fake Jobs APIs: it answers as one cluster does.
func TestRouterContractFake(t *testing.T) {
	t.Parallel()
	raycontract.Run(t, raycontract.Harness{Within: 5 * time.Second, New: func(t *testing.T) raycontract.Adapter {
		r := newRig(t, 2, nil)
		rt := r.router(t, nil)
		update := func(t *testing.T, id string, f func(*raytest.Job)) {
			found := 0
			for _, s := range r.fakes {
				if s.UpdateJob(id, f) {
					found++
				}
			}
			if found != 1 {
				t.Fatalf("%d fakes hold job %s, want 1", found, id)
			}
		}
		return raycontract.FakeJobsAdapter(rt, update, rayjobs.ResultPrefix+raycontract.ResultJSON)
	}})
}
