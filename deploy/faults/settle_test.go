//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// settleSlack is how long past the latest deadline the suite waits for the last deliberations to
// end: the deadline grace of the status logic, a reconcile tick, and an outage's worth on top.
const settleSlack = 45 * time.Second

// waitTerminal polls the accepted deliberations until each is terminal, or until settleSlack past
// the latest deadline; it returns the ids still not terminal then.
func waitTerminal(ctx context.Context, c *client, statusURL string, accepted map[string]*entry) []string {
	var latest time.Time
	for _, e := range accepted {
		latest = maxTime(latest, e.sentAt.Add(e.shape.timeout))
	}
	deadline := maxTime(latest, time.Now()).Add(settleSlack)
	left := make([]string, 0, len(accepted))
	for id := range accepted {
		left = append(left, id)
	}
	for len(left) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		next := left[:0]
		for _, id := range left {
			if r, a := c.status(ctx, statusURL, id); a.err != nil || a.bad != nil || !r.Status.Terminal() {
				next = append(next, id)
			}
		}
		left = next
		if len(left) > 0 {
			time.Sleep(time.Second)
		}
	}
	return left
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// storedEntries reads every deliberation entry the functions' Redis holds: the ground truth of
// what exists, against which the counters and the callers' ledger are checked.
func storedEntries(t *testing.T, rdb redis.UniversalClient) map[string]deliberation.Deliberation {
	t.Helper()
	var mu sync.Mutex
	out := map[string]deliberation.Deliberation{}
	// Entries are <prefix>:{sNN}:d:<id>, one hash tag per shard (shared/redisstore/shards.go); on
	// Redis Cluster every primary holds some shards.
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, keyPrefix+":{s*}:d:*", 500).Iterator()
		for iter.Next(ctx) {
			raw, err := node.Get(ctx, iter.Val()).Bytes()
			if err != nil {
				return fmt.Errorf("read %s: %w", iter.Val(), err)
			}
			var d deliberation.Deliberation
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("decode %s: %w", iter.Val(), err)
			}
			_, id, _ := strings.Cut(iter.Val(), "}:d:")
			mu.Lock()
			out[id] = d
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(t.Context(), rdb)
	}
	if err != nil {
		t.Fatalf("scan entries: %v", err)
	}
	return out
}

// waitRayIdle waits until Ray runs no job of the suite's registry: once every deliberation ended,
// the status logic and the reconcile sweep stop whatever job is left (a superseded attempt, a
// late one). It returns the jobs still live at the end of within: running ones, and pending ones,
// which Ray marks stopped only once it gets round to starting them.
func waitRayIdle(ctx context.Context, address string, within time.Duration) (running, pending []string, err error) {
	rc, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: address})
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(within)
	for {
		jobs, err := rc.List(ctx)
		running, pending = nil, nil
		for _, j := range jobs {
			switch {
			case j.Metadata["owner"] != keyPrefix || j.Status.Terminal():
			case j.Status == deliberation.JobPending:
				pending = append(pending, j.SubmissionID)
			default:
				running = append(running, j.SubmissionID)
			}
		}
		if (err == nil && len(running)+len(pending) == 0) || time.Now().After(deadline) || ctx.Err() != nil {
			return running, pending, err
		}
		time.Sleep(2 * time.Second)
	}
}
