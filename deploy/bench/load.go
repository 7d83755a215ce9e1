package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// call is one request of a scenario: the target (which of the scenario's processes, so results
// can be told apart), the request, and the status that counts as success; or, with rpc set, a
// call of RayExecutorService that checks its own answer (rpc_client.go).
type call struct {
	target int
	method string
	url    string
	body   []byte
	want   int
	rpc    func(context.Context) error
}

// calls gives the i-th request of a run, so a scenario can cycle through ids, cursors or targets.
type calls func(i int) call

// maxInFlight bounds the requests a run keeps open at once, and so the connections it holds: a
// machine that falls behind the rate then queues requests in the generator, where their wait is
// still measured from the scheduled time, instead of piling thousands of connections onto the
// function under test.
const maxInFlight = 64

// newClient is a keep-alive client with enough idle connections that no request of a run ever
// has to dial while another one is closed.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConns:        maxInFlight,
			MaxIdleConnsPerHost: maxInFlight,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// send makes one request, reads the whole answer and checks its status.
func send(ctx context.Context, client *http.Client, c call) error {
	if c.rpc != nil {
		return c.rpc(ctx)
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return err
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != c.want {
		return fmt.Errorf("%s %s answered %d, want %d", c.method, c.url, res.StatusCode, c.want)
	}
	return nil
}

// openResult is one open-loop run against one target.
type openResult struct {
	p50, p99, max time.Duration
	// lag99 is how late the generator itself sent (p99): it is part of the latencies above.
	lag99    time.Duration
	achieved float64
	// steal is the share of the machine's CPU time the hypervisor took during the run.
	steal    float64
	errors   int
	firstErr error
}

// sample is one request of an open-loop run.
type sample struct {
	target   int
	lat, lag time.Duration
	err      error
}

// openLoop sends count requests at a constant total rate, each at its scheduled time whether or
// not the earlier ones have been answered, and measures every latency from the scheduled time. A
// closed loop would wait out a slow answer before sending again and so hide the queueing it
// caused (coordinated omission); here a stall shows in every request scheduled during it. Targets
// that share a run share the machine's moments of contention, so their figures compare fairly.
func openLoop(ctx context.Context, client *http.Client, next calls, targets, rate, count int) []openResult {
	interval := time.Second / time.Duration(rate)
	samples := make([]sample, count)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now().Add(5 * time.Millisecond)
	for i := range count {
		at := start.Add(time.Duration(i) * interval)
		sleepUntil(at)
		slots <- struct{}{}
		c := next(i)
		wg.Go(func() {
			defer func() { <-slots }()
			s := sample{target: c.target, lag: time.Since(at)}
			s.err = send(ctx, client, c)
			s.lat = time.Since(at)
			samples[i] = s
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	out := make([]openResult, targets)
	for t := range out {
		var lats, lags []time.Duration
		for _, s := range samples {
			if s.target != t {
				continue
			}
			lats, lags = append(lats, s.lat), append(lags, s.lag)
			if s.err != nil {
				if out[t].errors == 0 {
					out[t].firstErr = s.err
				}
				out[t].errors++
			}
		}
		slices.Sort(lats)
		slices.Sort(lags)
		out[t].p50, out[t].p99, out[t].max = percentile(lats, 0.50), percentile(lats, 0.99), percentile(lats, 1)
		out[t].lag99 = percentile(lags, 0.99)
		out[t].achieved = float64(len(lats)) / elapsed.Seconds()
	}
	return out
}

// sleepUntil waits for t with nanosleep: the runtime's timers wake a quiet process only on whole
// milliseconds, which would send a 1,000 req/s load half a millisecond late on average and add that
// to every latency measured from the schedule. A signal (the runtime preempts with one) ends a
// nanosleep early, hence the loop.
func sleepUntil(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil)
	}
}

// satResult is one closed-loop saturation run against one target.
type satResult struct {
	throughput float64
	// perCore is requests per CPU-second of the function process: its throughput on one core,
	// whatever the load generator and Redis took of the machine's cores meanwhile.
	perCore float64
	// redisCPU and benchCPU are the CPU time redis-server and this process (the load generator
	// and the fake Ray Jobs API) spent per request of the run: the rest of what a request costs
	// the machine.
	redisCPU, benchCPU time.Duration
	errors             int
	firstErr           error
}

// saturate runs workers that each send their next request as soon as the previous one is
// answered, until count requests were sent or limit passed, and reads the CPU time each target's
// function process (pids, by target), redis-server and this process spent meanwhile.
func saturate(ctx context.Context, client *http.Client, next calls, workers, count int, limit time.Duration, pids []int, redisPID int) ([]satResult, error) {
	n := len(pids)
	done, failed := make([]atomic.Int64, n), make([]atomic.Int64, n)
	firstErr := make([]atomic.Pointer[error], n)
	watched := append(slices.Clone(pids), redisPID, os.Getpid())
	cpu0, err := cpuTimes(watched)
	if err != nil {
		return nil, err
	}
	var sent atomic.Int64
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(sent.Add(1) - 1)
				if i >= count {
					return
				}
				c := next(i)
				if err := send(ctx, client, c); err != nil {
					failed[c.target].Add(1)
					firstErr[c.target].CompareAndSwap(nil, &err)
				}
				done[c.target].Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTimes(watched)
	if err != nil {
		return nil, err
	}
	total := int64(0)
	for t := range done {
		total += done[t].Load()
	}
	out := make([]satResult, n)
	for t := range out {
		out[t] = satResult{throughput: float64(done[t].Load()) / elapsed.Seconds(), errors: int(failed[t].Load())}
		if total > 0 {
			out[t].redisCPU = (cpu1[n] - cpu0[n]) / time.Duration(total)
			out[t].benchCPU = (cpu1[n+1] - cpu0[n+1]) / time.Duration(total)
		}
		if used := (cpu1[t] - cpu0[t]).Seconds(); used > 0 {
			out[t].perCore = float64(done[t].Load()) / used
		}
		if e := firstErr[t].Load(); e != nil {
			out[t].firstErr = *e
		}
	}
	return out, nil
}

func cpuTimes(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
