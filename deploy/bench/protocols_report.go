package main

import (
	"fmt"
	"strconv"
	"time"
)

// summary is a target's figures as the tables show them: medians over the runs.
type summary struct {
	p50, p99, lag99 time.Duration
	throughput      float64
	fnCPU, benchCPU time.Duration
	rss             int64
	errors          int
	firstErr        error
}

func summarize(t *target) summary {
	s := summary{
		p50:        medianOf(t.open, func(o openResult) time.Duration { return o.p50 }),
		p99:        medianOf(t.open, func(o openResult) time.Duration { return o.p99 }),
		lag99:      medianOf(t.open, func(o openResult) time.Duration { return o.lag99 }),
		throughput: medianOf(t.sat, func(s satResult) float64 { return s.throughput }),
		benchCPU:   medianOf(t.sat, func(s satResult) time.Duration { return s.benchCPU }),
		rss:        t.rssAfter,
		firstErr:   firstError(t),
	}
	if perCore := medianOf(t.sat, func(s satResult) float64 { return s.perCore }); perCore > 0 {
		s.fnCPU = time.Duration(float64(time.Second) / perCore)
	}
	for _, o := range t.open {
		s.errors += o.errors
	}
	for _, st := range t.sat {
		s.errors += st.errors
	}
	return s
}

// protocolHeader and protocolRows are the protocol table: every use case measured over RPC too,
// its JSON route first, then each protocol with its ratio to the JSON route beside each figure.
func protocolHeader(opts options) []string {
	return []string{"use case", "protocol", "p50 at " + thousands(opts.rate) + " req/s", "p99", "saturation, " + strconv.Itoa(opts.workers) + " workers",
		"function CPU per request", "bench process CPU per request", "function RSS after the load", "generator lag p99", "errors"}
}

func (r *report) protocolRows() [][]string {
	var rows [][]string
	for _, sc := range r.scenarios {
		for _, base := range sc.targets {
			if len(base.twins) == 0 {
				continue
			}
			b := summarize(base)
			for _, t := range append([]*target{base}, base.twins...) {
				s := summarize(t)
				cell := func(text string, v, of float64) string {
					if t == base || of <= 0 {
						return text
					}
					return fmt.Sprintf("%s (×%.2f)", text, v/of)
				}
				errs := strconv.Itoa(s.errors)
				if s.errors > 0 {
					errs += fmt.Sprintf(" (%v)", s.firstErr)
				}
				rows = append(rows, []string{base.label, t.protocol.String(),
					cell(ms(s.p50), float64(s.p50), float64(b.p50)),
					cell(ms(s.p99), float64(s.p99), float64(b.p99)),
					cell(thousands(int(s.throughput))+" req/s", s.throughput, b.throughput),
					cell(us(s.fnCPU), float64(s.fnCPU), float64(b.fnCPU)),
					cell(us(s.benchCPU), float64(s.benchCPU), float64(b.benchCPU)),
					cell(mib(s.rss), float64(s.rss), float64(b.rss)),
					ms(s.lag99), errs})
			}
		}
	}
	return rows
}

func (r *report) protocolNotes() []string {
	return []string{
		"Protocols: the same use case through its JSON route and through RayExecutorService, as a platform caller reaches it. gRPC: a grpc-go ClientConn " +
			"(grpc.NewClient, insecure credentials) over h2c, so one HTTP/2 connection with the calls multiplexed on it, calling conn.Invoke with the " +
			"generated messages; Connect: connect-go's generated client, Connect protocol with binary protobuf over the keep-alive HTTP/1.1 pool of the " +
			"JSON routes. Stats is GetStatus with include_stats (health and the counters, as GET / answers); execute is ExecuteDeliberation with the " +
			"JSON request's content. RPCs carry a 30 s deadline.",
		fmt.Sprintf("Each protocol calls a process of its own of the same binary, keyspace and settings, measured exactly as the JSON rows above (the same "+
			"rate, %s requests per run, %d runs, %d workers, at most %d in flight), its runs taking turns with the others. The ratio beside a figure is it "+
			"divided by the JSON route's; bench process CPU is the client's side (with the fake Ray Jobs API for execute).",
			thousands(r.opts.requests), r.opts.runs, r.opts.workers, maxInFlight),
	}
}
