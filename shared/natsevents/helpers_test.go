package natsevents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/natsevents"
	"github.com/rayexecutor/functions/shared/redisstore"
)

const (
	prefix     = "ray-executor"
	streamName = "RAY_EXECUTOR"
)

// embedded starts an in-process nats-server with JetStream; maxPayload 0 keeps NATS's default.
func embedded(t *testing.T, maxPayload int32) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL()
}

// miniStore is a Redis store with its outbox on, over miniredis.
func miniStore(t *testing.T) *redisstore.Store {
	t.Helper()
	mr := miniredis.RunT(t)
	return storeOn(t, mr.Addr(), "test")
}

func storeOn(t *testing.T, addr, keyPrefix string) *redisstore.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return redisstore.New(rdb, redisstore.Options{Prefix: keyPrefix, Outbox: true})
}

// publisher connects a publisher with test-sized timeouts and closes it with the test.
func publisher(t *testing.T, url string, outbox app.Outbox) *natsevents.Publisher {
	t.Helper()
	p, err := natsevents.New(natsevents.Options{URL: url, ReconnectWait: 50 * time.Millisecond,
		ConnectTimeout: 500 * time.Millisecond, PublishTimeout: time.Second}, outbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// unthrottled lifts the one-check-per-period marker, so that tests drive (and race) transitions
// by polling as often as they like; the store's atomic step is what they exercise.
type unthrottled struct{ *redisstore.Store }

func (unthrottled) ClaimCheck(context.Context, string, time.Duration) (bool, error) { return true, nil }

// rayJobs is a fake Ray whose jobs are in whatever state the test sets, by submission id.
type rayJobs struct {
	mu     sync.Mutex
	states map[string]app.AttemptStatus
	result deliberation.Result
}

func newRay(t *testing.T) (*rayJobs, *fakes.Ray) {
	t.Helper()
	res, err := deliberation.NewResult([]deliberation.AgentResult{{AgentID: "a1", Proposal: "use a trie", Score: 0.9}}, nil, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	jobs := &rayJobs{states: map[string]app.AttemptStatus{}, result: res}
	return jobs, &fakes.Ray{StatusFn: jobs.status, ResultFn: jobs.read}
}

func (r *rayJobs) set(sub string, st deliberation.JobState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states[sub] = app.AttemptStatus{State: st, Summary: "entrypoint exited with code 3"}
}

func (r *rayJobs) setInfraFailure(sub string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states[sub] = app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}
}

func (r *rayJobs) status(_ context.Context, sub string) (app.AttemptStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.states[sub]; ok {
		return st, nil
	}
	return app.AttemptStatus{State: deliberation.JobPending}, nil
}

func (r *rayJobs) read(_ context.Context, sub string) (deliberation.Result, error) {
	if st, _ := r.status(context.Background(), sub); st.State == deliberation.JobSucceeded {
		return r.result, nil
	}
	return deliberation.Result{}, deliberation.Errorf(deliberation.CodeNotFound, "no result line")
}

func service(store app.StateStore, ray app.RayCluster, events app.EventPublisher) *app.Service {
	settings := app.DefaultSettings()
	settings.MaxActive, settings.CheckPeriod = 0, 0
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	return app.NewService(store, ray, events, settings, nil)
}

func request() deliberation.RequestInput {
	return deliberation.RequestInput{
		TaskID: "task-1", TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1"},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}},
		VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "judge",
	}
}

func execute(t *testing.T, svc *app.Service) string {
	t.Helper()
	sub, err := svc.Execute(context.Background(), app.ExecuteCommand{Input: request()})
	if err != nil {
		t.Fatal(err)
	}
	return sub.DeliberationID
}

func poll(t *testing.T, svc *app.Service, id string) app.StatusReport {
	t.Helper()
	r, err := svc.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drained waits until the outbox is empty, running the reconcile pass as the PingSource would.
func drained(t *testing.T, svc *app.Service, store *redisstore.Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := store.OutboxDepth(context.Background())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d deliberations after %s (%v)", n, within, err)
		}
		if _, err := svc.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// message is one stream message as an independent consumer sees it, parsed and validated with the
// CloudEvents SDK.
type message struct {
	subject, msgID string
	event          event.Event
	report         app.StatusReport
}

// jetStream is a JetStream client on a connection of its own, closed with the test.
func jetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// readStream reads the whole stream with an ordered consumer on its own connection.
func readStream(t *testing.T, url string) []message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := jetStream(t, url)
	s, err := js.Stream(ctx, streamName)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []message
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := len(out)
		for m := range batch.Messages() {
			out = append(out, parse(t, m))
		}
		if len(out) == n {
			t.Fatalf("read %d of %d messages: %v", n, info.State.Msgs, batch.Error())
		}
	}
	return out
}

func parse(t *testing.T, m jetstream.Msg) message {
	t.Helper()
	ev := event.New()
	if err := json.Unmarshal(m.Data(), &ev); err != nil {
		t.Fatalf("message on %s is not a structured CloudEvent: %v", m.Subject(), err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatalf("message on %s is not a valid CloudEvent: %v", m.Subject(), err)
	}
	if ct := m.Headers().Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var report app.StatusReport
	if err := ev.DataAs(&report); err != nil {
		t.Fatalf("event %s data: %v", ev.ID(), err)
	}
	return message{subject: m.Subject(), msgID: m.Headers().Get(jetstream.MsgIDHeader), event: ev, report: report}
}

// checkMessage checks what the spec says of every lifecycle event.
func checkMessage(t *testing.T, m message) {
	t.Helper()
	name := m.event.ID()[strings.LastIndex(m.event.ID(), ".")+1:]
	status := map[string]deliberation.Status{
		deliberation.EventSubmitted: deliberation.StatusSubmitted, deliberation.EventStarted: deliberation.StatusRunning,
		deliberation.EventCompleted: deliberation.StatusCompleted, deliberation.EventFailed: deliberation.StatusFailed,
	}[name]
	typ := map[string]string{
		deliberation.EventSubmitted: deliberation.TypeSubmitted, deliberation.EventStarted: deliberation.TypeStarted,
		deliberation.EventCompleted: deliberation.TypeCompleted, deliberation.EventFailed: deliberation.TypeFailed,
	}[name]
	want := fmt.Sprintf("%s.%s", m.report.SubmissionID, name)
	switch {
	case m.event.ID() != want || m.msgID != want:
		t.Fatalf("CloudEvent id %q, Nats-Msg-Id %q; want both %q", m.event.ID(), m.msgID, want)
	case m.subject != prefix+".deliberation."+name:
		t.Fatalf("subject %q for event %s", m.subject, m.event.ID())
	case typ == "" || m.event.Type() != typ || m.event.SpecVersion() != "1.0" || m.event.Source() == "":
		t.Fatalf("event %s: type %q, specversion %q, source %q", m.event.ID(), m.event.Type(), m.event.SpecVersion(), m.event.Source())
	case m.event.Subject() != m.report.DeliberationID || m.report.Status != status:
		t.Fatalf("event %s: subject %q, data %+v", m.event.ID(), m.event.Subject(), m.report)
	}
}

// byDeliberation groups the event ids of the messages per deliberation, in stream order.
func byDeliberation(t *testing.T, msgs []message) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range msgs {
		checkMessage(t, m)
		out[m.report.DeliberationID] = append(out[m.report.DeliberationID], m.event.ID())
	}
	return out
}
