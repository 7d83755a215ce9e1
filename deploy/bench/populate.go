package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// Key prefixes of the scenarios, so each reads a keyspace of a known shape.
const (
	prefixRead    = "bench-read"
	prefixExecute = "bench-exec"
	finishedCount = 100
	fillWorkers   = 32
)

func prefixHistory(n int) string { return fmt.Sprintf("bench-history-%d", n) }

// executeBody is a valid execute request: three agents, a task of a few lines.
const executeBody = `{"task_id":"bench-task","task_description":"Add a read-through cache in front of the user service; keep it consistent on writes.","role":"ARCHITECT",
 "constraints":{"story_id":"story-1","plan_id":"plan-1","metadata":{"sprint":"12"}},
 "agents":[{"agent_id":"a1","role":"DEV","model":"m1"},{"agent_id":"a2","role":"QA","model":"m2"},{"agent_id":"a3","role":"ARCHITECT","model":"m3"}],
 "vllm_url":"http://127.0.0.1:8000","vllm_model":"judge"}`

func benchRequest() (deliberation.Request, error) {
	in := deliberation.RequestInput{
		TaskID: "bench-task", TaskDescription: "Add a read-through cache in front of the user service.", Role: "ARCHITECT",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", PlanID: "plan-1"},
		Agents: []deliberation.AgentConfig{
			{AgentID: "a1", Role: "DEV", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"},
			{AgentID: "a3", Role: "ARCHITECT", Model: "m3"},
		},
		VLLMURL: "http://127.0.0.1:8000", VLLMModel: "judge",
	}
	return deliberation.NewRequest(in, deliberation.Limits{MaxAgents: deliberation.DefaultMaxAgents, Allowlist: deliberation.AllowAny(nil)})
}

// benchResult is what a finished deliberation of three agents holds: proposals of 2 KiB, as an
// LLM's answer of a few hundred words is.
func benchResult() (deliberation.Result, error) {
	agents := make([]deliberation.AgentResult, 3)
	for i := range agents {
		agents[i] = deliberation.AgentResult{
			AgentID: fmt.Sprintf("a%d", i+1), Proposal: strings.Repeat("Use a write-through cache keyed by user id. ", 47),
			Reasoning: strings.Repeat("Reads dominate; invalidation stays local. ", 7), Score: 0.5 + float64(i)/10,
			Metadata: map[string]string{"model": fmt.Sprintf("m%d", i+1), "tokens": "512", "duration_ms": "5300"},
		}
	}
	return deliberation.NewResult(agents, nil, 3, "")
}

// seeder writes deliberations through the Redis store itself, so the keyspace is exactly what the
// functions would have written.
type seeder struct {
	rdb redis.UniversalClient
	req deliberation.Request
	res deliberation.Result
}

func newSeeder(redisURL string) (*seeder, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	opt.PoolSize = fillWorkers
	return newSeederOn(redis.NewClient(opt))
}

// newSeederOn seeds through rdb, any shape of Redis; close closes it.
func newSeederOn(rdb redis.UniversalClient) (*seeder, error) {
	req, err := benchRequest()
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	res, err := benchResult()
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &seeder{rdb: rdb, req: req, res: res}, nil
}

func (s *seeder) close() { _ = s.rdb.Close() }

// finished stores n completed deliberations under prefix and returns their ids.
func (s *seeder) finished(ctx context.Context, prefix string, n int) ([]string, error) {
	store := redisstore.New(s.rdb, redisstore.Options{Prefix: prefix})
	ids := make([]string, n)
	base := time.Now().Add(-time.Hour)
	err := parallel(n, func(i int) error {
		ids[i] = deliberation.IDFromKey(fmt.Sprintf("%s-%d", prefix, i))
		return s.put(ctx, store, ids[i], base.Add(time.Duration(i)*time.Millisecond), deliberation.StatusCompleted)
	})
	return ids, err
}

// history stores n deliberations under prefix, submitted 1 ms apart: every other one finished
// (completed and failed alternately), the rest active (half of them running). It returns cursors
// of full pages of limit spread over the whole active index, the first page's ("") included.
func (s *seeder) history(ctx context.Context, prefix string, n, limit int) ([]string, error) {
	store := redisstore.New(s.rdb, redisstore.Options{Prefix: prefix})
	base := time.Now().Add(-time.Duration(n) * time.Millisecond)
	id := func(i int) string { return deliberation.IDFromKey(fmt.Sprintf("%s-%d", prefix, i)) }
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	err := parallel(n, func(i int) error {
		status := []deliberation.Status{deliberation.StatusSubmitted, deliberation.StatusCompleted,
			deliberation.StatusRunning, deliberation.StatusFailed}[i%4]
		return s.put(ctx, store, id(i), at(i), status)
	})
	if err != nil {
		return nil, err
	}
	// The active entries are the even ones, in submission order; a cursor names the last entry of
	// the previous page by its score (submission ms) and id.
	active := (n + 1) / 2
	cursors := []string{""}
	for _, f := range []float64{0.25, 0.5, 0.75, 1} {
		k := int(f * float64(active-limit-1))
		cursors = append(cursors, fmt.Sprintf("%d.%s", at(2*k).UnixMilli(), id(2*k)))
	}
	return cursors, nil
}

// put creates one deliberation and moves it to status.
func (s *seeder) put(ctx context.Context, store *redisstore.Store, id string, at time.Time, status deliberation.Status) error {
	d := deliberation.New(id, s.req, at)
	if _, _, err := store.Create(ctx, d, s.req, 0); err != nil {
		return err
	}
	var change func(deliberation.Deliberation) (deliberation.Deliberation, bool)
	switch status {
	case deliberation.StatusSubmitted:
		return nil
	case deliberation.StatusRunning:
		change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.Running(at.Add(time.Second))
		}
	case deliberation.StatusCompleted:
		change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.Complete(s.res, 5300, at.Add(6*time.Second))
		}
	default:
		change = func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.Fail("Ray job failed: JOB_ENTRYPOINT_COMMAND_ERROR, exit code 3", at.Add(6*time.Second))
		}
	}
	_, _, err := store.Update(ctx, id, change)
	return err
}

// parallel runs f for 0..n-1 on fillWorkers goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range fillWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// world is what seeding left in Redis for the scenarios to read.
type world struct {
	finished []string
	cursors  map[int][]string
}

// jobsLimit is the page size of the active-jobs scenarios, the API's default.
const jobsLimit = 100

func seed(ctx context.Context, log *slog.Logger, redisURL string, opts options) (world, error) {
	s, err := newSeeder(redisURL)
	if err != nil {
		return world{}, err
	}
	defer s.close()
	w := world{cursors: map[int][]string{}}
	if w.finished, err = s.finished(ctx, prefixRead, finishedCount); err != nil {
		return w, fmt.Errorf("seed finished deliberations: %w", err)
	}
	if opts.only != nil && !opts.only["jobs"] {
		return w, nil
	}
	for _, n := range opts.history {
		start := time.Now()
		if w.cursors[n], err = s.history(ctx, prefixHistory(n), n, jobsLimit); err != nil {
			return w, fmt.Errorf("seed %d deliberations: %w", n, err)
		}
		log.Info("seeded", "deliberations", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return w, nil
}
