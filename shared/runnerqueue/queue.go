// Package runnerqueue is the app.RayCluster port on the deliberation runner's queue: a Redis
// Stream the Serve runner on the cluster (shared/rayjob/deliberation_runner.py) reads, and the
// per-attempt keys both sides write. A submit is an enqueue; Ray is not called on the request path
// at all. The keys, fields and states are defined once, in shared/rayjob/contract/runner_queue.json,
// which the runner and this package's tests read.
package runnerqueue

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.RayCluster = (*Queue)(nil)

// Queue is the port on the runner's queue. In the functions' Redis, under the key prefix, in the
// attempt's shard NN (ShardOf its submission id; Keys spells them all):
//   - <prefix>:{runner:sNN}:attempt:<id>  hash: state PENDING | RUNNING | STOPPED, deliberation_id,
//     enqueued_at, started_at; it expires a while after the deadline.
//   - <prefix>:{runner:sNN}:result:<id>   the runner's record: state SUCCEEDED | FAILED,
//     infrastructure, start_time and end_time (unix ms), result (the job's result contract); it
//     expires too.
//   - <prefix>:{runner:sNN}:queue         the shard's stream the runners' consumer group "runners" reads,
//     of the default pool; <prefix>:{runner:sNN}:queue:<pool> that of another pool, read only by the
//     runners of the clusters serving it.
//   - <prefix>:{runner:sNN}:attempts      the shard's index of attempts: a sorted set of submission
//     ids scored by their marker's expiry (unix ms), so List reads only live attempts and stays bounded.
//   - <prefix>:{runner}:replicas          a hash the runner replicas write their figures to (Replicas).
//   - <prefix>:{runner}:clusters          a hash of the clusters' draining states (WriteClusters).
type Queue struct {
	rdb  redis.UniversalClient
	keys Keys
	// layoutChecked is set once the layout key agreed with Shards (checkLayout).
	layoutChecked atomic.Bool
	callback      string
	policy        deliberation.JobPolicy
	linger        time.Duration
	tracing       trace.TracerProvider
	// shardLength bounds each shard's stream: Config.MaxLength spread over the shards.
	shardLength int64
	// pools are the pools whose streams Lag sums (Config.Pools).
	pools []string
}

// Config configures a Queue.
type Config struct {
	// Prefix is the functions' Redis key prefix (REDIS_KEY_PREFIX); the runner must use the same.
	Prefix string
	// CallbackURL is where the runner sends an attempt's finished wake-up.
	CallbackURL string
	// Policy is what the runner enforces for every attempt, as the job does (Config.Policy).
	Policy deliberation.JobPolicy
	// Linger is how long an attempt's keys outlive its deadline (default 1 h): long enough for
	// the status function and the reconcile pass to collect the outcome.
	Linger time.Duration
	// Tracing makes the enqueue spans; nil is the global provider (otel.GetTracerProvider).
	Tracing trace.TracerProvider
	// MaxLength is the most entries the queue may hold, read or not (0: no bound), spread evenly
	// over the shards' streams: an enqueue past its shard's part is refused, never another entry
	// trimmed. Each entry holds a request (up to 100 KiB).
	MaxLength int64
	// Pools are the pools some cluster serves (config.Ray.Pools): Lag sums their streams.
	// Default: the default pool only.
	Pools []string
}

// New returns the port on rdb, the Redis the runners read.
func New(rdb redis.UniversalClient, cfg Config) (*Queue, error) {
	if rdb == nil || cfg.Prefix == "" {
		return nil, errors.New("the runner dispatch needs a Redis client and a key prefix")
	}
	if cfg.CallbackURL != "" {
		if u, err := url.Parse(cfg.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, errors.New("callback URL must be an http(s) URL without credentials")
		}
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Hour
	}
	if cfg.Tracing == nil {
		cfg.Tracing = otel.GetTracerProvider()
	}
	shardLength := int64(0)
	if cfg.MaxLength > 0 {
		shardLength = (cfg.MaxLength + int64(Shards) - 1) / int64(Shards)
	}
	if len(cfg.Pools) == 0 {
		cfg.Pools = []string{deliberation.DefaultPool}
	}
	return &Queue{rdb: rdb, keys: NewKeys(cfg.Prefix), callback: cfg.CallbackURL, policy: cfg.Policy, linger: cfg.Linger,
		tracing: cfg.Tracing, shardLength: shardLength, pools: slices.Clone(cfg.Pools)}, nil
}

// Attempt states the runner and this adapter write (Ray's words, so they map one to one).
const (
	runnerPending = string(deliberation.JobPending)
	runnerRunning = string(deliberation.JobRunning)
	runnerStopped = string(deliberation.JobStopped)
)

func (r *Queue) attemptKey(id string) string     { return r.keys.Attempt(id) }
func (r *Queue) resultKey(id string) string      { return r.keys.Result(id) }
func runnerLabel(op, submissionID string) string { return op + " deliberation attempt " + submissionID }

//go:embed enqueue.lua
var enqueueSource string

// enqueueScript writes the attempt's marker, its index entry and its stream entry in one step,
// once: the marker is the idempotency key of the attempt, so a replayed submit enqueues nothing
// twice, and an attempt is never queued without being listed.
var enqueueScript = redis.NewScript(enqueueSource)

// Submit enqueues d's current attempt for the runners, on its pool's stream (req.PoolName()), at
// most once per submission id, with the trace context of its enqueue span in the stream entry.
func (r *Queue) Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) (err error) {
	ctx, span := startEnqueueSpan(ctx, r.tracing, d)
	defer func() { endSpan(span, err) }()
	what := runnerLabel("enqueue", d.SubmissionID)
	if d.Deadline.IsZero() {
		return deliberation.Errorf(deliberation.CodeInternal, "%s: the deliberation has no deadline", what)
	}
	payload, err := req.JobPayload(d.ID, r.policy)
	if err != nil {
		return &deliberation.Error{Code: deliberation.CodeInternal, Message: what + ": cannot encode the request", Cause: err}
	}
	ttl := time.Until(d.Deadline) + r.linger
	deadline := strconv.FormatFloat(float64(d.Deadline.UnixMilli())/1000, 'f', 3, 64)
	if err := r.checkLayout(ctx); err != nil {
		return err
	}
	traceparent, tracestate := traceContext(ctx)
	shard := ShardOf(d.SubmissionID)
	queued, err := enqueueScript.Run(ctx, r.rdb, []string{r.attemptKey(d.SubmissionID), r.keys.PoolQueue(shard, req.PoolName()), r.keys.Index(shard)},
		d.ID, d.SubmissionID, payload, deadline, r.callback, ttl.Milliseconds(), time.Now().UnixMilli(),
		traceparent, tracestate, r.shardLength).Int64()
	if err == nil && queued < 0 {
		// Not an outage, but answered as one: the deliberation stays accepted and queued for a
		// later submission (the status check, the reconcile pass), as when Ray is unreachable.
		return deliberation.Errorf(deliberation.CodeUnavailable, "%s: the shard's stream of the runners' queue holds %d entries, its bound", what, r.shardLength)
	}
	return redisError(err, what)
}

// runnerRecord is what the runner stores when an attempt ends.
type runnerRecord struct {
	State          deliberation.JobState `json:"state"`
	Infrastructure bool                  `json:"infrastructure"`
	StartTime      int64                 `json:"start_time"`
	EndTime        int64                 `json:"end_time"`
	Result         json.RawMessage       `json:"result"`
	// Cluster is the Ray cluster whose runner stored it (its Serve arg cluster).
	Cluster string `json:"cluster"`
}

// Status reads the attempt's record, or its marker while it is queued or running. Its cluster is
// the record's (the runner that stored it), else the marker's (the runner that last started it).
func (r *Queue) Status(ctx context.Context, submissionID string) (app.AttemptStatus, error) {
	what := runnerLabel("status of", submissionID)
	rec, found, err := r.record(ctx, submissionID)
	if err != nil {
		return app.AttemptStatus{}, err
	}
	if found && rec.Cluster != "" {
		return recordStatus(rec, ""), nil
	}
	marker, err := r.rdb.HGetAll(ctx, r.attemptKey(submissionID)).Result()
	switch {
	case found: // a record of a runner before clusters: the marker may still name one
		return recordStatus(rec, marker["cluster"]), nil
	case err != nil:
		return app.AttemptStatus{}, redisError(err, what)
	}
	return markerStatus(what, marker["state"], marker["started_at"], marker["cluster"])
}

// recordStatus is the status the runner's record tells; markerCluster stands in for a record
// that names no cluster.
func recordStatus(rec runnerRecord, markerCluster string) app.AttemptStatus {
	cluster := rec.Cluster
	if cluster == "" {
		cluster = markerCluster
	}
	return app.AttemptStatus{State: rec.State, Infrastructure: rec.Infrastructure,
		StartTime: time.UnixMilli(rec.StartTime), EndTime: time.UnixMilli(rec.EndTime),
		Summary: infrastructureSummary(rec), Cluster: cluster}
}

// markerStatus is the status an attempt's marker tells while the runner has no record of it.
func markerStatus(what, state, startedAt, cluster string) (app.AttemptStatus, error) {
	st := app.AttemptStatus{State: deliberation.JobState(state), Cluster: cluster}
	switch state {
	case runnerPending, runnerStopped:
	case runnerRunning:
		if ms, err := strconv.ParseInt(startedAt, 10, 64); err == nil {
			st.StartTime = time.UnixMilli(ms)
		}
	case "":
		return app.AttemptStatus{}, deliberation.Errorf(deliberation.CodeNotFound, "%s: the runners have no such attempt", what)
	default:
		return app.AttemptStatus{}, deliberation.Errorf(deliberation.CodeInternal, "%s: unknown state %q", what, state)
	}
	return st, nil
}

func infrastructureSummary(rec runnerRecord) string {
	if rec.Infrastructure {
		return "the deliberation runner lost the attempt"
	}
	return ""
}

// record reads and checks the runner's record of an attempt; found is false while there is none.
func (r *Queue) record(ctx context.Context, submissionID string) (runnerRecord, bool, error) {
	what := runnerLabel("result of", submissionID)
	raw, err := r.rdb.Get(ctx, r.resultKey(submissionID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return runnerRecord{}, false, nil
	}
	if err != nil {
		return runnerRecord{}, false, redisError(err, what)
	}
	rec, err := decodeRecord(what, raw)
	return rec, err == nil, err
}

// decodeRecord checks the runner's record of an attempt.
func decodeRecord(what string, raw []byte) (runnerRecord, error) {
	var rec runnerRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return runnerRecord{}, &deliberation.Error{Code: deliberation.CodeInternal, Message: what + ": not valid JSON", Cause: err}
	}
	if rec.State != deliberation.JobSucceeded && rec.State != deliberation.JobFailed {
		return runnerRecord{}, deliberation.Errorf(deliberation.CodeInternal, "%s: unknown state %q", what, rec.State)
	}
	return rec, nil
}

// Result decodes the result the runner stored, under the same contract as a job's result line.
func (r *Queue) Result(ctx context.Context, submissionID string) (deliberation.Result, error) {
	rec, found, err := r.record(ctx, submissionID)
	switch {
	case err != nil:
		return deliberation.Result{}, err
	case !found:
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeNotFound, "%s: none stored", runnerLabel("result of", submissionID))
	}
	res, err := deliberation.DecodeResult(rec.Result)
	if err != nil {
		return deliberation.Result{}, fmt.Errorf("%s: %w", runnerLabel("result of", submissionID), err)
	}
	return res, nil
}

//go:embed stop.lua
var stopSource string

// stopScript marks a queued or running attempt STOPPED, so no runner starts it (and one running
// cancels its work); an ended attempt is left as it is.
var stopScript = redis.NewScript(stopSource)

// Stop keeps the runners from starting the attempt, or has the runner running it cancel its
// agents' work: its status is STOPPED from then on. Stopping an ended attempt changes nothing
// and is not an error, as for a Ray job; not_found when the queue has no such attempt.
func (r *Queue) Stop(ctx context.Context, submissionID string) error {
	what := runnerLabel("stop", submissionID)
	found, err := stopScript.Run(ctx, r.rdb, []string{r.attemptKey(submissionID), r.resultKey(submissionID)}).Int()
	if err != nil {
		return redisError(err, what)
	}
	if found == 0 {
		return deliberation.Errorf(deliberation.CodeNotFound, "%s: the runners have no such attempt", what)
	}
	return nil
}

// redisError classifies a Redis failure: the queue is unreachable, which callers treat like an
// unreachable Ray (the deliberation stays accepted and is enqueued later).
func redisError(err error, what string) error {
	if err == nil {
		return nil
	}
	return &deliberation.Error{Code: deliberation.CodeUnavailable, Message: what + ": the runners' queue is unavailable", Cause: err}
}
