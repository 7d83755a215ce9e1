package redisstore

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// meter counts the commands a client sends and the bytes it reads.
type meter struct {
	commands []string
	read     atomic.Int64
}

func (m *meter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &m.read}, nil
	}
}

func (m *meter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		m.commands = append(m.commands, cmd.Name())
		return next(ctx, cmd)
	}
}

func (m *meter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			m.commands = append(m.commands, c.Name())
		}
		return next(ctx, cmds)
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// TestReadsDoNotScanHistory checks that stats and a page of active jobs cost the same with 100 and
// with 10,000 terminal deliberations stored: same commands, same bytes read. 100 leaves history in
// every shard, so both runs read the same counter fields (an empty shard has none).
func TestReadsDoNotScanHistory(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	measure := func(terminal int) ([]string, int64, int) {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 1})
		defer rdb.Close()
		m := &meter{}
		rdb.AddHook(m)
		s := New(rdb, Options{Prefix: fmt.Sprintf("cost%d", terminal)})
		svc := &app.Service{Store: s, Clock: fixedClock{storetest.Epoch.Add(time.Hour)}}
		fill(t, s, terminal)
		ctx := context.Background()
		read := func() {
			if _, err := svc.Stats(ctx); err != nil {
				t.Fatal(err)
			}
			if page, err := svc.ActiveJobs(ctx, 100, ""); err != nil || len(page.Jobs) != 5 {
				t.Fatalf("active jobs = %d, %v; want the 5 active", len(page.Jobs), err)
			}
		}
		read() // loads the scripts, so both runs measure the same steady state
		m.commands = nil
		m.read.Store(0)
		read()
		cmds, bytes := slices.Clone(m.commands), m.read.Load()
		return cmds, bytes, counterDigits(t, rdb, s)
	}
	smallCmds, smallBytes, smallDigits := measure(100)
	bigCmds, bigBytes, bigDigits := measure(10_000)
	if !slices.Equal(smallCmds, bigCmds) {
		t.Fatalf("commands differ: %v with 100 stored, %v with 10,000", smallCmds, bigCmds)
	}
	// The counters themselves have more digits with more history; nothing else may grow.
	if bigBytes-smallBytes > int64(bigDigits-smallDigits) {
		t.Fatalf("read %d bytes with 10,000 stored, %d with 100 (counters grew by %d digits)",
			bigBytes, smallBytes, bigDigits-smallDigits)
	}
	for _, c := range bigCmds {
		if slices.Contains([]string{"keys", "scan", "hscan", "zscan", "sscan", "smembers", "lrange"}, c) {
			t.Fatalf("a read used %s", c)
		}
	}
	t.Logf("stats + one page: commands %v; %d bytes read with 100 terminal deliberations, %d with 10,000 (counter digits +%d)",
		bigCmds, smallBytes, bigBytes, bigDigits-smallDigits)
}

// fill stores n terminal deliberations, then 5 active ones with the same ids in every keyspace.
func fill(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	req := storetest.Request(t, "task")
	res := storetest.Result(t)
	for i := range n {
		d := storetest.Entry(deliberation.IDFromKey(fmt.Sprint("done", i)), req, time.Duration(i)*time.Millisecond)
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Update(ctx, d.ID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.Complete(res, 1000, storetest.Epoch)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		d := storetest.Entry(deliberation.IDFromKey(fmt.Sprint("active", i)), req, time.Duration(i)*time.Second)
		if _, _, err := s.Create(ctx, d, req, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// counterDigits is the length of the counter values, which grows with history by design.
func counterDigits(t *testing.T, rdb *redis.Client, s *Store) int {
	t.Helper()
	n := 0
	for shard := range Shards {
		h := rdb.HGetAll(context.Background(), s.keys.stats(shard)).Val()
		if len(h) == 0 {
			t.Fatalf("shard %d holds no counters: the two runs would not read the same fields", shard)
		}
		for _, v := range h {
			n += len(v)
		}
	}
	return n
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// TestUpdateFromIsOneRoundTrip: an entry as Create, Get or a won Update returned it encodes to the
// stored bytes, so a transition from it is the compare-and-set alone; a stale one falls back to a
// read and a second compare-and-set.
func TestUpdateFromIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr, PoolSize: 1})
	t.Cleanup(func() { rdb.Close() })
	m := &meter{}
	rdb.AddHook(m)
	s := New(rdb, Options{Outbox: true})
	ctx := context.Background()
	req := storetest.Request(t, "task")
	at := storetest.Epoch.Add(time.Minute)
	create := func() deliberation.Deliberation {
		t.Helper()
		d, _, err := s.Create(ctx, storetest.Entry(deliberation.NewID(), req, 0), req, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Load the update script into Redis, so that every EVALSHA below finds it.
	if _, _, err := s.UpdateFrom(ctx, create(), func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.AcceptedByRay(at) }); err != nil {
		t.Fatal(err)
	}
	created := create()
	transition := func(known deliberation.Deliberation, change app.Change, want []string) deliberation.Deliberation {
		t.Helper()
		m.commands = nil
		after, won, err := s.UpdateFrom(ctx, known, change)
		if err != nil || !won {
			t.Fatalf("UpdateFrom: %v, %v", won, err)
		}
		if !slices.Equal(m.commands, want) {
			t.Fatalf("commands %v, want %v", m.commands, want)
		}
		return after
	}
	accepted := transition(created, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.AcceptedByRay(at) },
		[]string{"evalsha"})
	running := transition(accepted, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) { return d.Running(at) },
		[]string{"evalsha"})
	read, err := s.Get(ctx, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	transition(read, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Complete(storetest.LargeResult(t), 4200, at.Add(time.Second))
	}, []string{"evalsha"})
	// created is stale by now: the script refuses it, the store reads and tries again.
	m.commands = nil
	if _, won, err := s.UpdateFrom(ctx, created, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Fail("late", at)
	}); err != nil || won {
		t.Fatalf("UpdateFrom(stale) of a finished entry: %v, %v", won, err)
	}
	if want := []string{"evalsha", "get"}; !slices.Equal(m.commands, want) {
		t.Fatalf("stale: commands %v, want %v", m.commands, want)
	}
}
