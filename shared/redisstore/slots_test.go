package redisstore

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/slots"
	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// scriptNames names the store's scripts by digest (EVALSHA) and by source (the EVAL that loads one).
var scriptNames = map[string]string{
	createScript.Hash(): "create.lua", updateScript.Hash(): "update.lua", activeScript.Hash(): "active.lua",
	pendingScript.Hash(): "pending.lua", ackScript.Hash(): "ack.lua", rateScript.Hash(): "ratelimit.lua",
	createLua: "create.lua", updateLua: "update.lua", activeLua: "active.lua", pendingLua: "pending.lua", ackLua: "ack.lua",
	rateLua: "ratelimit.lua",
}

// TestEveryScriptCallIsOneSlot runs the whole store contract on a redis-server with the store in
// its Redis Cluster variant (Options.Cluster, as REDIS_MODE=cluster builds it) and fails when any
// script call (or multi-key command) was given keys in two hash slots: Redis Cluster would refuse
// it with CROSSSLOT. Every script must have been called, so none escapes the check.
//
// On one primary (standalone, Sentinel) one call may span slots, and only one: create.lua with a
// limit is also given the other shards' stats keys, to count every shard's active deliberations
// in the same step (an exact limit). The one-primary variant runs the contract too and checks
// exactly that: every call's own keys in one slot, and the only keys beyond them those of
// create.lua, which are the stats keys of the 15 other shards of the same store.
func TestEveryScriptCallIsOneSlot(t *testing.T) {
	t.Parallel()
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		rec := recordContract(t, true)
		for _, script := range []string{"create.lua", "update.lua", "active.lua", "pending.lua", "ack.lua", "ratelimit.lua"} {
			if len(rec.Calls(script)) == 0 {
				t.Errorf("the contract never called %s: its keys went unchecked", script)
			}
		}
		for _, name := range rec.Recorded() {
			for _, keys := range rec.Calls(name) {
				if spread := slots.Group(keys); len(spread) > 1 {
					t.Fatalf("%s was given keys in %d hash slots (Redis Cluster answers CROSSSLOT): %v", name, len(spread), spread)
				}
			}
			t.Logf("%s: %d calls, each within one slot", name, len(rec.Calls(name)))
		}
	})
	t.Run("one-primary", func(t *testing.T) {
		t.Parallel()
		rec := recordContract(t, false)
		counted := 0
		for _, name := range rec.Recorded() {
			for _, keys := range rec.Calls(name) {
				own := keys
				if name == "create.lua" && len(keys) > createOwnKeys {
					own = keys[:createOwnKeys]
					if want := otherShardsCounts(keys[0], keys[createOwnKeys-1]); !slices.Contains(want, strings.Join(keys[createOwnKeys:], " ")) {
						t.Fatalf("create.lua was given, beyond its shard's keys, %v; want the other shards' stats and its caller's indexes there, %v", keys[createOwnKeys:], want)
					}
					counted++
				}
				if spread := slots.Group(own); len(spread) > 1 {
					t.Fatalf("%s was given keys of its own in %d hash slots: %v", name, len(spread), spread)
				}
			}
		}
		if len(rec.Calls("ratelimit.lua")) == 0 {
			t.Fatal("the caller scenario never took a submit token")
		}
		if counted == 0 {
			t.Fatal("no create.lua call counted the other shards: the contract's admission went unchecked")
		}
		t.Logf("create.lua: %d calls counted the other shards' stats; every other call within one slot", counted)
	})
}

// recordContract runs the store contract (and the expiry contract) on a redis-server of its own,
// the store in its cluster variant or not, and records the keys of every call.
func recordContract(t *testing.T, cluster bool) *slots.Recorder {
	rec := slots.NewRecorder(scriptNames)
	rdb := realClient(t)
	rdb.AddHook(rec)
	var n atomic.Int32
	t.Run("contract", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, events bool) storetest.Subject {
			s := New(rdb, Options{Prefix: fmt.Sprintf("slots%d", n.Add(1)), Outbox: events, Cluster: cluster})
			return storetest.Subject{Store: s, Outbox: s}
		})
	})
	t.Run("callers", func(t *testing.T) {
		callerScenario(t, New(rdb, Options{Prefix: fmt.Sprintf("slots%d", n.Add(1)), Cluster: cluster}))
	})
	t.Run("expiry", func(t *testing.T) {
		storetest.RunExpiry(t, func(t *testing.T, retention time.Duration) storetest.Subject {
			s := New(rdb, Options{Prefix: fmt.Sprintf("slots%d", n.Add(1)), Retention: retention, Cluster: cluster})
			return storetest.Subject{Store: s, Outbox: s}
		})
	})
	return rec
}

// otherShardsCounts are the keys create.lua may be given beyond its own shard's (joined by
// spaces): the other shards' stats, its caller's indexes in the other shards (from its own,
// callerKey), or both, in that order.
func otherShardsCounts(key, callerKey string) []string {
	stats := otherShardsStats(key)
	open := strings.Index(callerKey, ":{s")
	prefix, shard, rest := callerKey[:open], callerKey[open+3:open+5], callerKey[open+6:]
	var mine []string
	for s := range Shards {
		if tag := fmt.Sprintf("%02d", s); tag != shard {
			mine = append(mine, prefix+":{s"+tag+"}"+rest)
		}
	}
	return []string{strings.Join(stats, " "), strings.Join(mine, " "), strings.Join(append(stats, mine...), " ")}
}

// callerScenario is what named callers add to the contract: creations bound by a caller's quota
// (and the global limit), a caller's page, a terminal transition leaving the caller's index, and
// a submit token taken.
func callerScenario(t *testing.T, s *Store) {
	ctx := t.Context()
	req := storetest.Request(t, "task")
	for i, id := range idsInShard("scenario", -1, 6) {
		d := storetest.Entry(id, req, time.Duration(i)*time.Millisecond)
		d.Caller = "alice"
		maxActive := 0
		if i%2 == 0 {
			maxActive = 100
		}
		if _, _, err := s.CreateAs(ctx, d, req, maxActive, 5); err != nil && i < 5 {
			t.Fatal(err)
		}
	}
	page, _, err := s.ActiveOf(ctx, "alice", "", 3)
	if err != nil || len(page) != 3 {
		t.Fatalf("alice's page: %d, %v", len(page), err)
	}
	if _, _, err := s.Update(ctx, page[0].ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Cancel("", storetest.Epoch)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeSubmit(ctx, "alice", 1, 2); err != nil {
		t.Fatal(err)
	}
}

// otherShardsStats spells, from a key of shard NN ("<p>:{sNN}:..."), the stats keys of the 15
// other shards of the same prefix, in shard order.
func otherShardsStats(key string) []string {
	open := strings.Index(key, ":{s")
	prefix, shard := key[:open], key[open+3:open+5]
	var out []string
	for s := range Shards {
		if tag := fmt.Sprintf("%02d", s); tag != shard {
			out = append(out, prefix+":{s"+tag+"}:stats")
		}
	}
	return out
}
