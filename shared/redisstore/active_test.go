package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestActivePagesOverUnevenShards: pages stay complete and in order when the active deliberations
// crowd into one shard (more than its share of a page, so the page asks it again) beside a few in
// others, with ties in submission time.
func TestActivePagesOverUnevenShards(t *testing.T) {
	t.Parallel()
	for name, rdb := range map[string]*redis.Client{"miniredis": miniClient(t), "redis-server": realClient(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := New(rdb, Options{Prefix: "uneven"})
			req := storetest.Request(t, "task")
			var want []member
			crowded := 0
			for i := 0; len(want) < 60; i++ {
				id := deliberation.IDFromKey(fmt.Sprint("uneven", i))
				if shardOf(id) != 3 && crowded >= 10 {
					continue // 50 in shard 3, the first 10 others wherever they fall
				}
				if shardOf(id) != 3 {
					crowded++
				}
				d := storetest.Entry(id, req, time.Duration(len(want)/3)*time.Millisecond)
				if _, _, err := s.Create(ctx, d, req, 0); err != nil {
					t.Fatal(err)
				}
				want = append(want, member{d.SubmittedAt.UnixMilli(), id})
			}
			slices.SortFunc(want, member.compare)
			for _, limit := range []int{1, 7, 10, 25, 100} {
				var got []member
				cursor := ""
				for pages := 0; ; pages++ {
					page, next, err := s.Active(ctx, cursor, limit)
					if err != nil || len(page) > limit || pages > 100 {
						t.Fatalf("limit %d: page of %d, %v", limit, len(page), err)
					}
					for _, d := range page {
						got = append(got, member{d.SubmittedAt.UnixMilli(), d.ID})
					}
					if next == "" {
						break
					}
					cursor = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: pages listed %d entries, want all %d in order", limit, len(got), len(want))
				}
			}
		})
	}
}

// TestActivePageAfterScriptFlush: the shards' scripts run as EVALSHA in one pipeline, which cannot
// fall back to EVAL command by command; a server that lost its scripts (a restart, a replica
// promoted by a failover) gets them loaded and the page read again.
func TestActivePageAfterScriptFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := realClient(t)
	s := New(rdb, Options{Prefix: "flush"})
	req := storetest.Request(t, "task")
	d := storetest.Entry(deliberation.IDFromKey("flush"), req, 0)
	if _, _, err := s.Create(ctx, d, req, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		page, _, err := s.Active(ctx, "", 10)
		if err != nil || len(page) != 1 || page[0].ID != d.ID {
			t.Fatalf("active page after SCRIPT FLUSH: %d entries, %v", len(page), err)
		}
	}
}
