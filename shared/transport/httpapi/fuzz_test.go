package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// FuzzRequests feeds arbitrary bodies and CloudEvent headers to the combined handler: whatever
// arrives, the answer is never a 5xx (the store is healthy) and every 4xx is a problem document.
func FuzzRequests(f *testing.F) {
	f.Add("/deliberations", "application/json", "", "", []byte(validRequest))
	f.Add("/", "application/json", "1.0", transport.TypeExecuteRequested, []byte(validRequest))
	f.Add("/", "application/cloudevents+json", "", "", []byte(`{"specversion":"1.0","type":"`+transport.TypeStatusRequested+`","source":"s","id":"1","data":{"deliberation_id":"delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"}}`))
	f.Add("/", "application/cloudevents-batch+json", "", "", []byte(`[{}]`))
	f.Add("/", "application/json", "1.0", transport.TypeJobsRequested, []byte(`{"limit":-1,"cursor":"\u0000"}`))
	f.Add("/", "application/json", "0.3", deliberation.TypeFinished, []byte(`{"deliberation_id":"../../etc"}`))
	f.Add("/deliberations", "application/json", "", "", []byte(`{"agents":[{"agent_id":1}],"constraints":{"metadata":{"":"x"}}}`))
	store := fakes.NewStore()
	settings := app.DefaultSettings()
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	svc := app.NewService(store, &fakes.Ray{}, nil, settings, nil)
	h, err := httpapi.NewHandler(backendOf(svc),
		httpapi.Options{Function: transport.FunctionCombined, MaxBodyBytes: 16 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, contentType, specversion, typ string, body []byte) {
		// Only origin-form paths: func-go's server and mux refuse anything else before this handler.
		if !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "http://function.test"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", contentType)
		if specversion != "" {
			req.Header.Set("ce-specversion", specversion)
			req.Header.Set("ce-type", typ)
			req.Header.Set("ce-source", "/fuzz")
			req.Header.Set("ce-id", "fuzz")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q %q: %s", rec.Code, path, body, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%d without a problem document: %s", rec.Code, rec.Body)
		}
	})
}
