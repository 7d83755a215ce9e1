package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// BenchmarkHandler is the cost of one request in the handler set and the use cases, without the
// network and without Redis (the in-memory store): what the functions add on top of a Redis
// round trip. Logs are JSON, as in a deployment, written to nowhere. The page of active jobs is
// left to the Redis store's benchmark: the in-memory store sorts on every call.
func BenchmarkHandler(b *testing.B) {
	store := fakes.NewStore()
	settings := app.DefaultSettings()
	settings.MaxActive = 0 // every execute is accepted, however many ran before
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	svc := app.NewService(store, &fakes.Ray{}, nil, settings, nil)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	finished := finishedDeliberation(b, svc, store)
	for _, c := range []struct {
		name, method, target, body string
		fn                         transport.Function
		want                       int
	}{
		{"stats", http.MethodGet, "/", "", transport.FunctionStats, http.StatusOK},
		{"status-finished", http.MethodGet, "/" + finished, "", transport.FunctionStatus, http.StatusOK},
		{"execute", http.MethodPost, "/", validRequest, transport.FunctionExecute, http.StatusAccepted},
	} {
		h, err := httpapi.NewHandler(backendOf(svc), httpapi.Options{Function: c.fn, Log: log})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.want {
					b.Fatalf("%s answered %d: %s", c.name, rec.Code, rec.Body)
				}
			}
		})
	}
}

// finishedDeliberation stores a completed deliberation of three agents with 2 KiB proposals and
// returns its id.
func finishedDeliberation(b *testing.B, svc *app.Service, store *fakes.Store) string {
	b.Helper()
	ctx := context.Background()
	cmd := app.ExecuteCommand{}
	cmd.Input = deliberation.RequestInput{TaskID: "task-1", TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1"},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"}, {AgentID: "a3", Role: "ARCHITECT", Model: "m3"}},
		VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "judge"}
	sub, err := svc.Execute(ctx, cmd)
	if err != nil {
		b.Fatal(err)
	}
	results := make([]deliberation.AgentResult, 3)
	for i := range results {
		results[i] = deliberation.AgentResult{AgentID: fmt.Sprintf("a%d", i+1), Proposal: strings.Repeat("Use a write-through cache. ", 76),
			Reasoning: strings.Repeat("Reads dominate. ", 20), Score: 0.5 + float64(i)/10, Metadata: map[string]string{"model": "m", "tokens": "512"}}
	}
	res, err := deliberation.NewResult(results, nil, 3, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := store.Update(ctx, sub.DeliberationID, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
		return d.Complete(res, 5300, time.Now())
	}); err != nil {
		b.Fatal(err)
	}
	return sub.DeliberationID
}
