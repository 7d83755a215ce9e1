package transport

import (
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// executeHTTP accepts a deliberation: 202 when new, 200 when the Idempotency-Key replays one.
func (h *handlers) executeHTTP(w http.ResponseWriter, r *http.Request) {
	in := info(r)
	in.route = "execute"
	if !requireJSON(w, r) {
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	key, err := idempotencyKey(r.Header)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sub, err := h.execute(r.Context(), body, key, "body")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.deliberationID = sub.DeliberationID
	status := http.StatusAccepted
	if sub.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, sub)
}

func (h *handlers) executeEvent(ctx context.Context, e event.Event) (reply, error) {
	sub, err := h.execute(ctx, e.Data(), eventKey(e), "data")
	if err != nil {
		return reply{}, err
	}
	return reply{Type: deliberation.TypeSubmitted, Subject: sub.DeliberationID, Data: sub}, nil
}

func (h *handlers) execute(ctx context.Context, payload []byte, key, what string) (app.Submission, error) {
	var input deliberation.RequestInput
	if err := decodeStrict(payload, &input, what); err != nil {
		return app.Submission{}, err
	}
	return h.backend.UseCases.Execute(ctx, app.ExecuteCommand{Input: input, IdempotencyKey: key})
}

// idempotencyKey reads the optional Idempotency-Key header. Sent empty or twice it is an error
// rather than absent: the caller meant to deduplicate and would otherwise get a second deliberation.
func idempotencyKey(h http.Header) (string, error) {
	values, present := h["Idempotency-Key"]
	switch {
	case !present:
		return "", nil
	case len(values) != 1 || values[0] == "":
		// Sent twice or empty, it gets the answer of any invalid key (which says "sent once").
		return "", deliberation.CheckIdempotencyKey("")
	}
	return values[0], nil
}
