package jobsrouter

import (
	"context"
	_ "embed"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	//go:embed place.lua
	placeLua    string
	placeScript = redis.NewScript(placeLua)
	//go:embed unplace.lua
	unplaceLua    string
	unplaceScript = redis.NewScript(unplaceLua)
)

// placements keeps where each attempt runs, in keys under one hash tag ({rayjobs}), so that a
// placement and its cluster's outstanding set change in one script on one Redis Cluster slot:
//
//	<prefix>:{rayjobs}:placed:<submission id>  hash {cluster, pool}, expires after ttl
//	<prefix>:{rayjobs}:out:<cluster>           sorted set of submission ids, scored by placement time (ms)
type placements struct {
	rdb    redis.UniversalClient
	prefix string
	// ttl bounds how long an attempt may stay placed: longer than any attempt lives (the
	// deliberation's timeout is at most a day). An outstanding member older than that is a leak
	// (its delete never came) and the next placement on its cluster drops it.
	ttl time.Duration
}

// placement is where an attempt was placed.
type placement struct {
	Cluster, Pool string
}

// candidate is a cluster that may take a new attempt, with its weight.
type candidate struct {
	name     string
	capacity int
}

func (p placements) placedKey(submissionID string) string {
	return p.prefix + ":{rayjobs}:placed:" + submissionID
}

func (p placements) outKey(cluster string) string { return p.prefix + ":{rayjobs}:out:" + cluster }

// place places submissionID on the least loaded of cands (offset breaks ties), unless it is
// placed already: then it answers that placement. ok is false when it has none and cands is empty.
func (p placements) place(ctx context.Context, submissionID, pool string, cands []candidate, offset int) (at placement, fresh, ok bool, err error) {
	keys := make([]string, 0, 1+len(cands))
	keys = append(keys, p.placedKey(submissionID))
	now := time.Now()
	args := []any{submissionID, now.UnixMilli(), now.Add(-p.ttl).UnixMilli(), p.ttl.Milliseconds(), pool, offset}
	for _, c := range cands {
		keys = append(keys, p.outKey(c.name))
		args = append(args, c.name, c.capacity)
	}
	res, err := placeScript.Run(ctx, p.rdb, keys, args...).Slice()
	if err != nil {
		return placement{}, false, false, unavailable(err, "place attempt")
	}
	if len(res) != 2 {
		return placement{}, false, false, nil
	}
	name, _ := res[0].(string)
	isNew, _ := res[1].(int64)
	return placement{Cluster: name, Pool: pool}, isNew == 1, true, nil
}

// get reads an attempt's placement; ok is false when it has none.
func (p placements) get(ctx context.Context, submissionID string) (at placement, ok bool, err error) {
	vals, err := p.rdb.HMGet(ctx, p.placedKey(submissionID), "cluster", "pool").Result()
	if err != nil {
		return placement{}, false, unavailable(err, "read the attempt's placement")
	}
	name, _ := vals[0].(string)
	pool, _ := vals[1].(string)
	return placement{Cluster: name, Pool: pool}, name != "", nil
}

// unplace forgets that submissionID is on cluster: its record there is gone.
func (p placements) unplace(ctx context.Context, submissionID, cluster string) error {
	err := unplaceScript.Run(ctx, p.rdb, []string{p.placedKey(submissionID), p.outKey(cluster)}, submissionID, cluster).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err, "forget the attempt's placement")
	}
	return nil
}

// outstanding counts the attempts placed on cluster and not yet deleted from it.
func (p placements) outstanding(ctx context.Context, cluster string) (int64, error) {
	n, err := p.rdb.ZCard(ctx, p.outKey(cluster)).Result()
	if err != nil {
		return 0, unavailable(err, "count outstanding attempts")
	}
	return n, nil
}

func unavailable(err error, what string) error {
	return deliberation.Unavailable(err, "jobs router: %s: Redis is unavailable", what)
}
