package observe_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/transport/observe"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestTraceKeepsOnlyWellFormedContext: a malformed traceparent is dropped whole, a tracestate
// with control characters is dropped alone, so nothing a caller invents reaches a log line.
func TestTraceKeepsOnlyWellFormedContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		parent, state string
		want          observe.Trace
	}{
		{parent, "k=v", observe.Trace{Parent: parent, State: "k=v"}},
		{parent, "k=" + strings.Repeat("v", 256) + ",l=" + strings.Repeat("w", 256), observe.Trace{Parent: parent}},
		{parent, "k=\nv", observe.Trace{Parent: parent}},
		{strings.ToUpper(parent), "", observe.Trace{}},
		{"ff" + parent[2:], "", observe.Trace{}},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", observe.Trace{}},
		{parent[:54], "", observe.Trace{}},
	} {
		got, _ := observe.TraceFrom(observe.WithTrace(context.Background(), observe.Trace{Parent: tc.parent, State: tc.state}))
		if got != tc.want {
			t.Errorf("traceparent %q, tracestate %q: got %+v, want %+v", tc.parent, tc.state, got, tc.want)
		}
	}
}

// TestTraceLogging: a record logged with a request's context carries its traceparent.
func TestTraceLogging(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := observe.WithTraceLogging(slog.New(slog.NewJSONHandler(&buf, nil))).With("function", "f")
	ctx := observe.WithTrace(context.Background(), observe.Trace{Parent: parent})
	log.InfoContext(ctx, "inside")
	log.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"traceparent":"`+parent+`"`) || strings.Contains(lines[1], "traceparent") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}
