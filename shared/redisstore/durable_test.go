package redisstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// shortAcks records what Durability.Short hears.
type shortAcks struct {
	mu    sync.Mutex
	acked []int
}

func (s *shortAcks) hear(_ context.Context, _ string, acked, _ int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked = append(s.acked, acked)
}

func (s *shortAcks) take() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.acked
	s.acked = nil
	return out
}

// TestDurabilitySentinel: on a real Sentinel group the store's WAIT counts the replicas that have
// its write. Both replicas confirm a creation and a transition; asked for three, it hears two.
// With one replica paused (its link up, confirming nothing) a creation still stands, after the
// wait's timeout, and the shortfall is reported: one replica confirmed it.
func TestDurabilitySentinel(t *testing.T) {
	t.Parallel()
	group := testenv.StartSentinel(t)
	rdb := testenv.ShapeClient(t, config.RedisSentinel, group.URL())
	ctx := t.Context()
	short := &shortAcks{}
	open := func(replicas int, timeout time.Duration) *Store {
		return New(rdb, Options{Prefix: "durable", Outbox: true, Durability: Durability{Replicas: replicas, Timeout: timeout, Short: short.hear}})
	}
	create := func(s *Store) deliberation.Deliberation {
		t.Helper()
		req := storetest.Request(t, "task")
		d := deliberation.New(deliberation.NewID(), req, time.Now())
		if _, created, err := s.Create(ctx, d, req, 0); err != nil || !created {
			t.Fatalf("create: %v, created %v", err, created)
		}
		return d
	}

	both := open(2, time.Second)
	d := create(both)
	if _, won, err := both.Update(ctx, d.ID, func(cur deliberation.Deliberation) (deliberation.Deliberation, bool) {
		cur.OnRay = true
		return cur, true
	}); err != nil || !won {
		t.Fatalf("update: %v, won %v", err, won)
	}
	if got := short.take(); len(got) != 0 {
		t.Fatalf("both replicas up, yet short acknowledgements %v", got)
	}
	create(open(3, 200*time.Millisecond))
	if got := short.take(); !slices.Equal(got, []int{2}) {
		t.Fatalf("asked for 3 replicas: heard %v, want [2] (the group has two)", got)
	}

	primary := group.Primary(t)
	var replica string
	for _, n := range group.Nodes() {
		if n != primary {
			replica = n
			break
		}
	}
	group.Pause(t, replica)
	began := time.Now()
	d = create(both)
	if took := time.Since(began); took < time.Second {
		t.Errorf("a creation one replica cannot confirm returned after %s, before the wait's 1 s timeout", took)
	}
	if got := short.take(); !slices.Equal(got, []int{1}) {
		t.Fatalf("one replica paused: heard %v, want [1]", got)
	}
	if stored, err := both.Get(ctx, d.ID); err != nil || stored.ID != d.ID {
		t.Fatalf("the creation fewer replicas confirmed does not stand: %v", err)
	}
	group.Resume(t, replica)
}
