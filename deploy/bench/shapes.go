package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/localredis"
	"github.com/rayexecutor/functions/shared/config"
)

// The sentinel scenario (-only sentinel): execute and status of a finished deliberation against
// the standalone redis-server of the bench and against a local Sentinel group (1 primary, 2
// replicas, 3 sentinels) with REDIS_MIN_REPLICAS_ACK=1, the two shapes taking turns request by
// request in one open-loop run, so that both meet the same moments of a shared machine.
const (
	// targetWaitRatio is docs/performance.md's bound: execute p99 with WAIT 1 within 2x of
	// standalone; reads are not to change.
	targetWaitRatio = 2.0
	// readRatioBound is what "reads unchanged" is judged by: a read on Sentinel within 1.25x.
	readRatioBound = 1.25
)

// shapeOp is one operation measured on both shapes: their open-loop results per run.
type shapeOp struct {
	name                 string
	write                bool
	standalone, sentinel []openResult
}

type shapesResult struct {
	ops         []*shapeOp
	rate, count int
	// waitRead is whether this build reads REDIS_MIN_REPLICAS_ACK: before it does, the Sentinel
	// figures are replication without WAIT.
	waitRead bool
	// write and writeWait are a lone SET, and a SET followed by WAIT 1, timed from this process
	// on the group's primary: what WAIT itself costs a write, whichever build runs.
	write, writeWait latency
}

// latency is the p50 and p99 of a sequence of round trips.
type latency struct{ p50, p99 time.Duration }

// waitProbes is how many SETs, and SETs with WAIT 1, waitCost times.
const waitProbes = 2000

// waitCost times waitProbes SETs alone, then each followed by WAIT 1, on the group's primary.
func waitCost(ctx context.Context, rdb redis.UniversalClient) (set, setWait latency, err error) {
	measure := func(wait bool) (latency, error) {
		lats := make([]time.Duration, waitProbes)
		for i := range lats {
			start := time.Now()
			if err := rdb.Set(ctx, "bench:wait-probe", i, 0).Err(); err != nil {
				return latency{}, err
			}
			if wait {
				n, err := rdb.Do(ctx, "WAIT", 1, 1000).Int()
				if err != nil {
					return latency{}, err
				}
				if n < 1 {
					return latency{}, fmt.Errorf("WAIT 1 timed out (%d replicas)", n)
				}
			}
			lats[i] = time.Since(start)
		}
		slices.Sort(lats)
		return latency{percentile(lats, 0.5), percentile(lats, 0.99)}, nil
	}
	if set, err = measure(false); err != nil {
		return set, setWait, err
	}
	setWait, err = measure(true)
	return set, setWait, err
}

// runShapes starts the Sentinel group, seeds it as the standalone server was seeded, launches
// execute and status on each shape and measures them in turns, opts.runs times.
func runShapes(ctx context.Context, log *slog.Logger, opts options, bin func(string) string,
	env func(fn, prefix string) map[string]string, standaloneURL string, finished []string) (*shapesResult, error) {
	log.Info("sentinel scenario: starting a local Sentinel group (1 primary, 2 replicas, 3 sentinels)")
	g, err := localredis.StartSentinel(ctx)
	if err != nil {
		return nil, err
	}
	defer g.Stop()
	rdb, err := config.NewRedisClient(config.RedisSentinel, g.URL, config.RedisTimeouts{Dial: 2 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	write, writeWait, err := waitCost(ctx, rdb)
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("WAIT on the Sentinel group: %w", err)
	}
	s, err := newSeederOn(rdb)
	if err != nil {
		return nil, err
	}
	// The same prefix gives the same ids as the standalone server's finished deliberations.
	_, err = s.finished(ctx, prefixRead, finishedCount)
	s.close()
	if err != nil {
		return nil, fmt.Errorf("seed the Sentinel group: %w", err)
	}
	shapes := []map[string]string{
		{"REDIS_MODE": config.RedisStandalone, "REDIS_URL": standaloneURL},
		// The Sentinel manifests' setting: after an acknowledged write, WAIT for one replica.
		{"REDIS_MODE": config.RedisSentinel, "REDIS_URL": g.URL, "REDIS_MIN_REPLICAS_ACK": "1"},
	}
	res := &shapesResult{rate: opts.shapesRate, count: opts.shapesCount, waitRead: slices.Contains(config.Variables(), "REDIS_MIN_REPLICAS_ACK"),
		write: write, writeWait: writeWait}
	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	urls := map[string][2]string{}
	for _, op := range []struct{ name, fn, prefix string }{
		{"execute", "execute-deliberation", prefixExecute},
		{"status of a finished deliberation", "get-deliberation-status", prefixRead},
	} {
		var pair [2]string
		for i, shape := range shapes {
			e := env(op.fn, op.prefix)
			maps.Copy(e, shape)
			p, err := launch(ctx, bin(op.fn), e)
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", op.fn, shape["REDIS_MODE"], err)
			}
			procs = append(procs, p)
			pair[i] = p.url
		}
		urls[op.name] = pair
		res.ops = append(res.ops, &shapeOp{name: op.name, write: op.fn == "execute-deliberation"})
	}
	next := func(op *shapeOp) calls {
		pair := urls[op.name]
		return func(i int) call {
			k := i % 2 // the shapes alternate request by request
			if op.write {
				return call{target: k, method: http.MethodPost, url: pair[k] + "/", body: []byte(executeBody), want: http.StatusAccepted}
			}
			return call{target: k, method: http.MethodGet, url: pair[k] + "/" + finished[(i/2)%len(finished)], want: http.StatusOK}
		}
	}
	client := newClient()
	for _, op := range res.ops {
		_ = openLoop(ctx, client, next(op), 2, res.rate, res.rate/2) // connections, scripts, heaps
	}
	for r := range opts.runs {
		for _, op := range res.ops {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			runtime.GC()
			out := openLoop(ctx, client, next(op), 2, res.rate, res.count)
			op.standalone, op.sentinel = append(op.standalone, out[0]), append(op.sentinel, out[1])
			for i, o := range out {
				if o.errors > 0 {
					return nil, fmt.Errorf("%s on %s: %d errors, the first: %v", op.name, shapes[i]["REDIS_MODE"], o.errors, o.firstErr)
				}
			}
			log.Info("sentinel scenario run", "n", r+1, "op", op.name,
				"standalone_p50", out[0].p50.String(), "standalone_p99", out[0].p99.String(),
				"sentinel_p50", out[1].p50.String(), "sentinel_p99", out[1].p99.String())
		}
	}
	return res, nil
}

func (s *shapesResult) header() []string {
	return []string{"operation (" + thousands(s.rate/2) + "/s on each shape, alternating)", "standalone p50", "p99",
		"Sentinel + WAIT 1 p50", "p99", "ratio p50", "ratio p99", "target"}
}

func (s *shapesResult) rows() [][]string {
	var rows [][]string
	for _, op := range s.ops {
		p50 := func(o openResult) time.Duration { return o.p50 }
		p99 := func(o openResult) time.Duration { return o.p99 }
		a50, a99 := medianOf(op.standalone, p50), medianOf(op.standalone, p99)
		b50, b99 := medianOf(op.sentinel, p50), medianOf(op.sentinel, p99)
		r50, r99 := float64(b50)/float64(a50), float64(b99)/float64(a99)
		target := fmt.Sprintf("p99 ≤ %.0fx: %s", targetWaitRatio, met(r99 <= targetWaitRatio))
		if !op.write {
			target = fmt.Sprintf("unchanged (p99 ≤ %.2fx): %s", readRatioBound, met(r99 <= readRatioBound))
		}
		rows = append(rows, []string{op.name, ms(a50), ms(a99), ms(b50), ms(b99), "×" + ratio(r50), "×" + ratio(r99), target})
	}
	return rows
}

func (s *shapesResult) notes() []string {
	wait := "REDIS_MIN_REPLICAS_ACK=1 is passed to the Sentinel functions, which read it: each acknowledged write waits for one replica (WAIT 1)."
	if !s.waitRead {
		wait = "REDIS_MIN_REPLICAS_ACK=1 is passed to the Sentinel functions, but this build does not read it yet (config.Variables lacks it): " +
			"the Sentinel figures are replication to two replicas without WAIT."
	}
	return []string{
		fmt.Sprintf("WAIT 1 itself, timed from the bench process on the group's primary: a SET alone p50 %s, p99 %s; a SET then WAIT 1 p50 %s, p99 %s (%s round trips each).",
			us(s.write.p50), us(s.write.p99), us(s.writeWait.p50), us(s.writeWait.p99), thousands(waitProbes)),
		fmt.Sprintf("Medians of %d open-loop runs of %s requests at %s/s in all, the two shapes alternating request by request. "+
			"The standalone server runs without persistence, the Sentinel group's nodes with AOF everysec, min-replicas-to-write 1 on the primary, "+
			"all on this machine.", len(s.ops[0].standalone), thousands(s.count), thousands(s.rate)),
		wait,
	}
}
