package jobsrouter_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// driveScript is a real head's attempt: it waits until the test writes its verdict into
// <dir>/<deliberation id>, then prints the contract's result line ("ok") or fails.
const driveScript = `import json, os, pathlib, sys, time
d = json.loads(os.environ["RAY_EXECUTOR_REQUEST"])["deliberation_id"]
verdict = pathlib.Path(sys.argv[1], d)
for _ in range(1200):
    if verdict.exists():
        break
    time.sleep(0.1)
if verdict.exists() and verdict.read_text() == "ok":
    print("RAY_EXECUTOR_RESULT v1 " + sys.argv[2], flush=True)
    sys.exit(0)
sys.exit(3)
`

// The port's contract on the router over two real heads (RAY_TEST_ROUTER_HEADS).
func TestRouterContractReal(t *testing.T) {
	heads := twoHeads(t)
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	dir := t.TempDir()
	script := filepath.Join(dir, "drive.py")
	if err := os.WriteFile(script, []byte(driveScript), 0o644); err != nil {
		t.Fatal(err)
	}
	entrypoint := "python " + script + " " + dir + " '" + raycontract.ResultJSON + "'"
	const within = 90 * time.Second
	raycontract.Run(t, raycontract.Harness{Real: true, Within: within, New: func(t *testing.T) raycontract.Adapter {
		owner := raytest.UniqueID("contract")
		var members []jobsrouter.Member
		for i, h := range heads {
			c, err := rayjobs.NewCluster(rayjobs.Config{ClientConfig: rayjobs.ClientConfig{Address: h.Address, Timeout: 10 * time.Second},
				Entrypoint: entrypoint, Owner: owner, Policy: raycontract.Limits.JobPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, jobsrouter.Member{Name: names[i], Port: c, Pools: []string{deliberation.DefaultPool},
				Capacity: 1, Breaker: c.Client().BreakerState})
		}
		rt, err := jobsrouter.New(rdb, members, jobsrouter.Options{Prefix: owner})
		if err != nil {
			t.Fatal(err)
		}
		wait := func(t *testing.T, id string, done func(deliberation.JobState) bool) {
			for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
				st, err := rt.Status(ctx, id)
				if err == nil && done(st.State) {
					if st.State.Terminal() {
						// Ray lets a job be deleted only once its monitor let go of it.
						time.Sleep(time.Until(st.EndTime.Add(3500 * time.Millisecond)))
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("attempt %s is %+v (%v) after %s", id, st, err, within)
				}
			}
		}
		return raycontract.Adapter{Port: rt,
			Start: func(t *testing.T, d deliberation.Deliberation) {
				wait(t, d.SubmissionID, func(s deliberation.JobState) bool { return s == deliberation.JobRunning })
			},
			Finish: func(t *testing.T, d deliberation.Deliberation, succeeded bool) {
				verdict := "fail"
				if succeeded {
					verdict = "ok"
				}
				if err := os.WriteFile(filepath.Join(dir, d.ID), []byte(verdict), 0o644); err != nil {
					t.Fatal(err)
				}
				wait(t, d.SubmissionID, deliberation.JobState.Terminal)
			}}
	}})
}
