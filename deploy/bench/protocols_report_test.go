package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProtocolRows: the JSON route first, then each protocol with its ratios to it; the JSON rows
// of the main table leave the twins out.
func TestProtocolRows(t *testing.T) {
	run := func(p50, p99 time.Duration, tp, perCore float64) ([]openResult, []satResult) {
		return []openResult{{p50: p50, p99: p99, lag99: time.Millisecond}}, []satResult{{throughput: tp, perCore: perCore, benchCPU: 20 * time.Microsecond}}
	}
	base := &target{label: "get-stats", fn: "get-stats"}
	base.open, base.sat = run(time.Millisecond, 2*time.Millisecond, 1000, 10000)
	twin := &target{label: "get-stats over gRPC", fn: "get-stats", protocol: protoGRPC}
	twin.open, twin.sat = run(500*time.Microsecond, 3*time.Millisecond, 2000, 20000)
	twin.open[0].errors, twin.open[0].firstErr = 1, errors.New("unavailable")
	base.rssAfter, twin.rssAfter = 20<<20, 30<<20
	base.twins = []*target{twin}
	r := report{opts: options{rate: 1000, workers: 16, runs: 1, requests: 10},
		scenarios: []*scenario{{targets: []*target{base}, rate: 1000}, {targets: []*target{twin}, rate: 1000}}}
	rows := r.protocolRows()
	if len(rows) != 2 || len(rows[0]) != len(protocolHeader(r.opts)) {
		t.Fatalf("rows %q", rows)
	}
	want := []string{"get-stats", "gRPC (grpc-go, h2c)", "0.50 ms (×0.50)", "3.00 ms (×1.50)", "2,000 req/s (×2.00)", "50 µs (×0.50)", "20 µs (×1.00)",
		"30.0 MiB (×1.50)", "1.00 ms", "1 (unavailable)"}
	if strings.Join(rows[1], "|") != strings.Join(want, "|") {
		t.Errorf("gRPC row\n%q\nwant\n%q", rows[1], want)
	}
	if strings.Contains(rows[0][2], "×") {
		t.Errorf("the JSON row has a ratio: %q", rows[0])
	}
	for _, row := range r.rows() {
		if strings.Contains(row.figure, "gRPC") {
			t.Errorf("main table holds a twin: %q", row.figure)
		}
	}
}
