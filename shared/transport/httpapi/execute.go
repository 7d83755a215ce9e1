package httpapi

import (
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// executeHTTP accepts a deliberation: 202 when new, 200 when the Idempotency-Key replays one.
func (h *handlers) executeHTTP(w http.ResponseWriter, r *http.Request) {
	in := observe.RequestFrom(r.Context())
	in.Route = string(transport.UseExecute)
	if !requireJSON(w, r) {
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	key, err := transport.IdempotencyKey(r.Header)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sub, err := h.execute(r.Context(), body, key, false, "body")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.DeliberationID = sub.DeliberationID
	status := http.StatusAccepted
	if sub.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, sub)
}

func (h *handlers) executeEvent(ctx context.Context, e event.Event) (reply, error) {
	sub, err := h.execute(ctx, e.Data(), eventKey(e), true, "data")
	if err != nil {
		return reply{}, err
	}
	return reply{Type: deliberation.TypeSubmitted, Subject: sub.DeliberationID, Data: sub}, nil
}

func (h *handlers) execute(ctx context.Context, payload []byte, key string, fromEvent bool, what string) (app.Submission, error) {
	var input deliberation.RequestInput
	if err := decodeStrict(payload, &input, what); err != nil {
		return app.Submission{}, err
	}
	return h.backend.Execute.Execute(ctx, app.ExecuteCommand{Input: input, IdempotencyKey: key, FromEvent: fromEvent})
}
