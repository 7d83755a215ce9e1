package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// eventCases are a request event each function takes, with its data and the reply it gets.
func eventCases(t *testing.T, h *harness, f transport.Function) []struct{ in, data, out string } {
	t.Helper()
	sub, err := h.svc.Execute(t.Context(), executeCommand(t))
	if err != nil {
		t.Fatal(err)
	}
	byFunction := map[transport.Function][]struct{ in, data, out string }{
		transport.FunctionExecute: {{transport.TypeExecuteRequested, validRequest, deliberation.TypeSubmitted}},
		transport.FunctionStatus:  {{transport.TypeStatusRequested, `{"deliberation_id":"` + sub.DeliberationID + `"}`, transport.TypeStatus}},
		transport.FunctionStats:   {{transport.TypeStatsRequested, `{}`, transport.TypeStats}},
		transport.FunctionJobs:    {{transport.TypeJobsRequested, `{"limit":5}`, transport.TypeJobs}},
	}
	for _, fn := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs} {
		byFunction[transport.FunctionCombined] = append(byFunction[transport.FunctionCombined], byFunction[fn]...)
	}
	return byFunction[f]
}

// TestEventDataContentTypes: event data is JSON when sdk-go would read it as JSON. A binary event
// without Content-Type (no datacontenttype, what the CloudEvents SDKs send for a JSON object by
// default) and a structured event without datacontenttype are taken as JSON by every function; a
// declared type that is not JSON is 415, even when the bytes are JSON (Python's urllib.request
// declares application/x-www-form-urlencoded for any body it is given without a Content-Type,
// aiohttp application/octet-stream).
func TestEventDataContentTypes(t *testing.T) {
	t.Parallel()
	taken := []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON", "text/json", "application/vnd.example+json"}
	refused := []string{"application/x-www-form-urlencoded", "application/octet-stream", "text/plain"}
	for _, f := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs, transport.FunctionCombined} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, f)
			for i, c := range eventCases(t, h, f) {
				for j, ct := range taken {
					req := h.binary("/", c.in, fmt.Sprintf("binary-%d-%d", i, j), c.data)
					if ct == "" {
						req.Header.Del("Content-Type")
					} else {
						req.Header.Set("Content-Type", ct)
					}
					h.do(req).reply(t, c.out)
				}
				for j, ct := range refused {
					req := h.binary("/", c.in, fmt.Sprintf("refused-%d-%d", i, j), c.data, "Content-Type", ct)
					h.do(req).problem(t, http.StatusUnsupportedMediaType)
				}
				raw, err := json.Marshal(map[string]any{"specversion": "1.0", "type": c.in, "source": "/test/source",
					"id": fmt.Sprintf("structured-%d", i), "data": json.RawMessage(c.data)})
				if err != nil {
					t.Fatal(err)
				}
				h.do(h.request(http.MethodPost, "/", string(raw), "Content-Type", "application/cloudevents+json")).reply(t, c.out)
			}
		})
	}
}
