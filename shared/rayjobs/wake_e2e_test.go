package rayjobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/natsevents"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayjobs"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// unpolled is a deliberation service nobody polls: it learns of finished jobs only from their
// wake-up (when wake is true) or from reconcile passes every tick.
type unpolled struct {
	svc       *app.Service
	cluster   *rayjobs.Cluster
	model     *modelserver.Server
	completed sync.Map // deliberation id -> time the completed event arrived
}

func newUnpolled(t *testing.T, wake bool, tick time.Duration) *unpolled {
	t.Helper()
	u := &unpolled{model: modelserver.New(t)}
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{Outbox: true})
	natsURL := raytest.EmbeddedNATS(t)
	events, err := natsevents.New(natsevents.Options{URL: natsURL, PublishTimeout: time.Second}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Close(context.Background()) })
	cfg := rayjobs.Config{ClientConfig: rayjobs.ClientConfig{Address: realRayAddress(t), Timeout: 10 * time.Second},
		JobPackage: rayjob.Package, PackageEntrypoint: rayjob.Entrypoint, Owner: uniqueID("wake"), Policy: openLimits.JobPolicy()}
	if wake {
		// The status function's part: the wake-up carries only an id; Wake asks Ray itself.
		callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				DeliberationID string `json:"deliberation_id"`
			}
			if json.NewDecoder(r.Body).Decode(&body) == nil {
				_ = u.svc.Wake(r.Context(), body.DeliberationID)
			}
		}))
		t.Cleanup(callback.Close)
		cfg.CallbackURL = callback.URL
	}
	u.cluster = newCluster(t, cfg)
	settings := app.DefaultSettings()
	settings.Limits = openLimits
	u.svc = app.NewService(store, u.cluster, events, settings, nil)
	u.consume(t, natsURL)
	if !wake {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(tick):
					_, _ = u.svc.Reconcile(ctx)
				}
			}
		}()
	}
	return u
}

// consume records when each completed event arrives, as an independent subscriber would.
func (u *unpolled) consume(t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.Subscribe("ray-executor.deliberation.completed", func(m *nats.Msg) {
		var ev struct {
			Data app.StatusReport `json:"data"`
		}
		if json.Unmarshal(m.Data, &ev) == nil {
			u.completed.LoadOrStore(ev.Data.DeliberationID, time.Now())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// A core subscription sees what the publisher puts on the stream's subjects.
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// lag submits one deliberation, waits for its completed event and returns how long after the
// Ray job's own end the event arrived.
func (u *unpolled) lag(t *testing.T) time.Duration {
	t.Helper()
	timeout, retries := 120, 0
	sub, err := u.svc.Execute(context.Background(), app.ExecuteCommand{Input: deliberation.RequestInput{
		TaskID: "t-1", TaskDescription: "Write a parser", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s-1", TimeoutSeconds: &timeout, MaxRetries: &retries},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}},
		VLLMURL:     u.model.URL(), VLLMModel: "judge",
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.DeliberationID
	t.Cleanup(func() { cleanupJob(t, u.cluster.Client(), id) })
	deadline := time.Now().Add(120 * time.Second)
	for {
		if at, ok := u.completed.Load(id); ok {
			job, err := u.cluster.Client().Get(context.Background(), id)
			if err != nil {
				t.Fatalf("job %s: %v", id, err)
			}
			st, _ := u.svc.Stats(context.Background())
			if st.Stats.CompletedDeliberations != 1 || st.Stats.TotalDeliberations != 1 {
				t.Fatalf("stats = %+v, want one completion counted once", st.Stats)
			}
			return at.(time.Time).Sub(time.UnixMilli(job.EndTime))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed event for %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnpolledCompletesOnItsWakeUp: nobody polls; the job's wake-up makes its completed event
// arrive within 3 s of the Ray job's end.
func TestUnpolledCompletesOnItsWakeUp(t *testing.T) {
	t.Parallel()
	u := newUnpolled(t, true, 0)
	if lag := u.lag(t); lag > 3*time.Second {
		t.Fatalf("completed event %v after the job ended, want within 3 s", lag)
	} else {
		t.Logf("completed event %v after the job ended", lag)
	}
}

// TestUnpolledCompletesWithoutItsWakeUp: the wake-up is lost; the reconcile tick alone records
// the completion within two periods of the job's end.
func TestUnpolledCompletesWithoutItsWakeUp(t *testing.T) {
	t.Parallel()
	const period = 3 * time.Second
	u := newUnpolled(t, false, period)
	if lag := u.lag(t); lag > 2*period {
		t.Fatalf("completed event %v after the job ended, want within two reconcile periods (%v)", lag, 2*period)
	} else {
		t.Logf("completed event %v after the job ended (reconcile period %v)", lag, period)
	}
}
