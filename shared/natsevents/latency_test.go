package natsevents_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/redisstore"
)

const (
	// latencyRounds × latencyPerRound executes are timed per scenario; the scenarios take turns
	// round by round, so a slow spell of the machine hits them all alike.
	latencyRounds   = 5
	latencyPerRound = 50
	// latencyNoise is added to the 10% bound: at medians of a few hundred microseconds, scheduler
	// noise alone is of that order.
	latencyNoise = 50 * time.Microsecond
)

// TestExecuteLatencyIgnoresNATS: Execute's median latency, over 250 executes against a real
// redis-server and a fake Ray, is within 10% of its median with NATS up both when NATS refuses
// connections and when it accepts them and never answers.
func TestExecuteLatencyIgnoresNATS(t *testing.T) {
	redisSrv := testenv.StartRedis(t)
	scenarios := []*scenario{
		{name: "nats up", url: testenv.StartNATS(t).URL()},
		{name: "nats refuses", url: fmt.Sprintf("nats://127.0.0.1:%d", testenv.FreePort(t))},
		{name: "nats never answers", url: "nats://" + silentListener(t)},
	}
	for _, s := range scenarios {
		s.store = storeOn(t, redisSrv.Addr, s.name)
		s.svc = service(s.store, &fakes.Ray{}, publisher(t, s.url, s.store))
		s.time(t, 30)
		s.samples = nil
	}
	up := scenarios[0]
	drained(t, up.svc, up.store, 10*time.Second)
	for range latencyRounds {
		for _, s := range scenarios {
			s.time(t, latencyPerRound)
		}
	}
	base := up.median()
	for _, s := range scenarios {
		t.Logf("%-18s median %v over %d executes (p90 %v)", s.name, s.median(), len(s.samples), s.percentile(90))
	}
	for _, s := range scenarios[1:] {
		if bound := base + base/10 + latencyNoise; s.median() > bound {
			t.Errorf("%s: median %v, over the bound %v (median with NATS up %v + 10%% + %v)", s.name, s.median(), bound, base, latencyNoise)
		}
		if depth, err := s.store.OutboxDepth(context.Background()); err != nil || depth != int64(s.executed) {
			t.Errorf("%s: outbox holds %d deliberations (%v), want all %d waiting", s.name, depth, err, s.executed)
		}
	}
	drained(t, up.svc, up.store, 10*time.Second)
}

type scenario struct {
	name     string
	url      string
	store    *redisstore.Store
	svc      *app.Service
	samples  []time.Duration
	executed int
}

func (s *scenario) time(t *testing.T, n int) {
	t.Helper()
	for range n {
		start := time.Now()
		execute(t, s.svc)
		s.samples = append(s.samples, time.Since(start))
		s.executed++
	}
}

func (s *scenario) median() time.Duration { return s.percentile(50) }

func (s *scenario) percentile(p int) time.Duration {
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	return sorted[(len(sorted)-1)*p/100]
}

// silentListener accepts TCP connections and never writes a byte, as a hung server would.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
