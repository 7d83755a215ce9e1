package httpapi_test

import (
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/httpapi"
)

// TestHandlerNeedsEveryUseCaseItServes: a function never starts with a route, an event type or a
// procedure that would call a missing use case; a read side (stats and jobs only) serves the
// read-only functions and nothing else.
func TestHandlerNeedsEveryUseCaseItServes(t *testing.T) {
	t.Parallel()
	svc := app.NewService(fakes.NewStore(), nil, nil, app.DefaultSettings(), nil)
	readSide := transport.Backend{Stats: svc, Jobs: svc}
	for f := range transport.Catalogue {
		_, err := httpapi.NewHandler(readSide, httpapi.Options{Function: f})
		readOnly := f == transport.FunctionStats || f == transport.FunctionJobs
		if readOnly && err != nil {
			t.Errorf("%s refused a read side: %v", f, err)
		}
		if !readOnly && (err == nil || !strings.Contains(err.Error(), string(f))) {
			t.Errorf("%s took a read side: %v", f, err)
		}
	}
	full := backendOf(svc)
	full.Reconcile = nil
	if _, err := httpapi.NewHandler(full, httpapi.Options{Function: transport.FunctionStatus}); err == nil {
		t.Error("the status function started without a reconcile pass")
	}
	if _, err := httpapi.NewHandler(full, httpapi.Options{Function: "no-such-function"}); err == nil {
		t.Error("an unknown function started")
	}
}
