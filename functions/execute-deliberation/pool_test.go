package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestPools: with a list of clusters, a request runs in the pool it names, else the one its models
// map to, else the default one; the pool is stored with it and goes to Ray in the job's request. A
// pool no cluster serves is a 400 problem on `pool` (as JSON and to a CloudEvent), and nothing is
// stored or submitted.
func TestPools(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	clusters := map[string]string{"RAY_ADDRESS": "",
		"RAY_CLUSTERS":    `[{"name": "ray-1", "address": "` + stack.Ray.URL() + `", "pools": ["default", "gpu"]}]`,
		"RAY_POOL_MODELS": `{"gpu": ["big"]}`}
	fn := functest.Start(t, functest.Build(t), stack.Env(clusters))
	uc := stack.UseCasesWith(t, clusters)

	withPool := func(pool string) string {
		return strings.Replace(functest.ValidRequest, `"role":"DEV",`, `"role":"DEV","pool":"`+pool+`",`, 1)
	}
	bigModels := strings.NewReplacer(`"model":"m1"`, `"model":"big"`, `"model":"m2"`, `"model":"big"`, `"vllm_model":"judge"`, `"vllm_model":"big"`).
		Replace(functest.ValidRequest)
	for name, c := range map[string]struct{ body, want string }{
		"named":                              {withPool("gpu"), "gpu"},
		"by models":                          {bigModels, "gpu"},
		"default":                            {functest.ValidRequest, "default"},
		"named default, whatever the models": {strings.Replace(bigModels, `"role":"DEV",`, `"role":"DEV","pool":"default",`, 1), "default"},
	} {
		got := functest.Call(t, http.MethodPost, fn.URL+"/", c.body)
		id, _ := got.JSON(t)["deliberation_id"].(string)
		if got.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", name, got.Status, got.Body)
		}
		rep, err := uc.Status.Status(t.Context(), id)
		if err != nil || rep.Pool != c.want {
			t.Errorf("%s: stored pool %q (%v), want %q", name, rep.Pool, err, c.want)
		}
		job, ok := stack.Ray.Job(id)
		var sent struct{ Pool *string }
		if !ok || json.Unmarshal([]byte(job.EnvVars["RAY_EXECUTOR_REQUEST"]), &sent) != nil {
			t.Fatalf("%s: no job with a request on Ray", name)
		}
		if c.want == "default" && sent.Pool != nil || c.want != "default" && (sent.Pool == nil || *sent.Pool != c.want) {
			t.Errorf("%s: the job's request has pool %v, want %q (none for the default pool)", name, sent.Pool, c.want)
		}
	}

	before := stack.Total(t)
	jobs := len(stack.Ray.Jobs())
	got := functest.Call(t, http.MethodPost, fn.URL+"/", withPool("tpu"))
	if fields := got.Problem(t, http.StatusBadRequest); !slices.Equal(fields, []string{"pool"}) ||
		!strings.Contains(string(got.Body), `no Ray cluster serves pool \"tpu\" (served: [default gpu])`) {
		t.Errorf("unserved pool: fields %v, body %s", fields, got.Body)
	}
	functest.Do(t, functest.Binary(t, fn.URL+"/", transport.TypeExecuteRequested, "e-tpu", withPool("tpu"))).
		Problem(t, http.StatusBadRequest)
	if after := stack.Total(t); after != before || len(stack.Ray.Jobs()) != jobs {
		t.Errorf("an unserved pool left %d deliberations (was %d), %d jobs (was %d)", after, before, len(stack.Ray.Jobs()), jobs)
	}
}
