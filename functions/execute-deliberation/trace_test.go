package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/rayexecutor/functions/functions/internal/functest"
	"github.com/rayexecutor/functions/internal/otlptest"
	"github.com/rayexecutor/functions/internal/testenv"
)

// TestOneTraceFromTheCallerToRayAndNATS: the built function, exporting to an OTLP receiver, puts
// everything one request causes in the caller's trace: its server span, the Redis commands, the
// Ray job's submit and the Jobs API calls under it, and the publish of the submitted event; the
// job gets the submit span in TRACEPARENT and the NATS message the publish span in its headers and
// CloudEvent extension.
func TestOneTraceFromTheCallerToRayAndNATS(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	natsURL := testenv.StartNATS(t).URL()
	recv := otlptest.Start(t)
	fn := functest.Start(t, functest.Build(t), stack.Env(map[string]string{"NATS_URL": natsURL,
		"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL(), "OTEL_BSP_SCHEDULE_DELAY": "50"}))
	const traceID = "5e1c0bde2f8a4b1c9d3e7f6a5b4c3d2e"
	got := functest.Call(t, http.MethodPost, fn.URL+"/", functest.ValidRequest,
		"traceparent", "00-"+traceID+"-1a2b3c4d5e6f7081-01")
	id, _ := got.JSON(t)["deliberation_id"].(string)
	if got.Status != http.StatusAccepted {
		t.Fatalf("execute: %d", got.Status)
	}
	names := func(spans []otlptest.Span) map[string]otlptest.Span {
		out := map[string]otlptest.Span{}
		for _, s := range spans {
			if s.TraceID == traceID {
				out[s.Name] = s
			}
		}
		return out
	}
	spans := names(recv.Wait(10*time.Second, func(s []otlptest.Span) bool {
		n := names(s)
		_, published := n["ray-executor.deliberation.submitted publish"]
		return published && n["POST execute"].SpanID != ""
	}))
	server, submit, post := spans["POST execute"], spans["ray job submit"], spans["ray jobs POST"]
	publish := spans["ray-executor.deliberation.submitted publish"]
	switch {
	case server.Kind != tracepb.Span_SPAN_KIND_SERVER || server.ParentID != "1a2b3c4d5e6f7081" || server.Service != "execute-deliberation":
		t.Errorf("server span %+v; received %v", server, spanNames(recv.Spans()))
	case submit.ParentID != server.SpanID || post.ParentID != submit.SpanID:
		t.Errorf("submit %+v, Jobs API call %+v: want request > submit > call", submit, post)
	case publish.ParentID != server.SpanID || publish.Kind != tracepb.Span_SPAN_KIND_PRODUCER:
		t.Errorf("publish span %+v, want the request's child", publish)
	}
	redisSpans := 0
	for _, s := range spans {
		if s.Attributes["db.system"] == "redis" {
			redisSpans++
		}
	}
	if redisSpans == 0 {
		t.Errorf("no Redis span in the trace: %v", spans)
	}
	job, ok := stack.Ray.Job(id)
	if want := "00-" + traceID + "-" + submit.SpanID + "-01"; !ok || job.EnvVars["TRACEPARENT"] != want {
		t.Errorf("job TRACEPARENT %q, want %q", job.EnvVars["TRACEPARENT"], want)
	}
	header, ext := submittedEvent(t, natsURL)
	if want := "00-" + traceID + "-" + publish.SpanID + "-01"; header != want || ext != want {
		t.Errorf("NATS traceparent header %q, extension %q; want %q", header, ext, want)
	}
}

// submittedEvent reads the first message of the lifecycle stream: its traceparent header and
// CloudEvent extension.
func submittedEvent(t *testing.T, url string) (header, ext string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if s, err := js.Stream(ctx, "RAY_EXECUTOR"); err == nil {
			if m, err := s.GetMsg(ctx, 1); err == nil && strings.HasSuffix(m.Subject, ".submitted") {
				var ev struct {
					Traceparent string `json:"traceparent"`
				}
				if err := json.Unmarshal(m.Data, &ev); err != nil {
					t.Fatal(err)
				}
				return m.Header.Get("traceparent"), ev.Traceparent
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no submitted event on the stream")
	return "", ""
}

func spanNames(spans []otlptest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name+"/"+s.Kind.String()+"/"+s.TraceID[:4])
	}
	return out
}
