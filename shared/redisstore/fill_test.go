package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/callers"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestCreateCancelLoopKeepsMemoryBounded: a caller creating and at once cancelling deliberations
// of the largest request (a 64 KiB task) 400 times, on a redis-server of 16 MB (noeviction, as
// deployed) with a week's retention, is never refused and leaves Redis about as full as after the
// first 50: a cancelled deliberation keeps its entry and its request's fingerprint, not its request.
// Before the request was dropped, each round kept ~65 KB for the retention and Redis refused
// writes (OOM, every execute 503) within ~200 rounds.
func TestCreateCancelLoopKeepsMemoryBounded(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, "--maxmemory", "16mb", "--maxmemory-policy", "noeviction")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	settings := app.DefaultSettings()
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	svc := app.NewService(New(rdb, Options{Prefix: "fill"}), &fakes.Ray{}, nil, settings, nil)
	ctx := callers.With(context.Background(), callers.Caller{Name: "filler", Role: callers.RoleCaller})
	in := deliberation.RequestInput{
		TaskID: "t", TaskDescription: strings.Repeat("x", 64<<10), Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s"},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m"}},
		VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "m",
	}
	var settled int64
	for i := range 400 {
		sub, err := svc.Execute(ctx, app.ExecuteCommand{Input: in})
		if err != nil {
			t.Fatalf("round %d: execute %v (used memory %d)", i, err, usedMemory(t, rdb))
		}
		if res, err := svc.Cancel(ctx, sub.DeliberationID, ""); err != nil || res.Outcome != app.CancelRecorded {
			t.Fatalf("round %d: cancel %s, %v", i, res.Outcome, err)
		}
		if i == 49 {
			_ = svc.Wait(ctx)
			settled = usedMemory(t, rdb)
		}
	}
	_ = svc.Wait(ctx)
	grown := usedMemory(t, rdb) - settled
	t.Logf("350 rounds after the first 50 grew Redis's used memory by %d bytes (%d a round)", grown, grown/350)
	if grown > 350*4096 {
		t.Fatalf("350 create-cancel rounds grew Redis by %d bytes, more than 4 KiB a round", grown)
	}
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
