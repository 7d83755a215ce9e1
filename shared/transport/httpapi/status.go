package httpapi

import (
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// idData is the data of the status request and of the finished wake-up.
type idData struct {
	DeliberationID string `json:"deliberation_id"`
}

func (h *handlers) statusByPath(w http.ResponseWriter, r *http.Request) {
	h.statusHTTP(w, r, r.PathValue("id"))
}

func (h *handlers) statusByQuery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("deliberation_id") {
		observe.RequestFrom(r.Context()).Route = string(transport.UseStatus)
		h.fail(w, r, transport.Invalid("deliberation_id", "deliberation_id is required"))
		return
	}
	h.statusHTTP(w, r, q.Get("deliberation_id"))
}

// statusHTTP answers 200 with the report, or 404 with a report saying not_found. The use case
// validates the id before it reaches a Redis key; only a valid id is logged.
func (h *handlers) statusHTTP(w http.ResponseWriter, r *http.Request, id string) {
	in := observe.RequestFrom(r.Context())
	in.Route = string(transport.UseStatus)
	rep, err := h.backend.Status.Status(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.DeliberationID = rep.DeliberationID
	status := http.StatusOK
	if rep.Status == deliberation.StatusNotFound {
		status = http.StatusNotFound
	}
	writeJSON(w, status, rep)
}

// statusEvent replies with the report, also for an unknown deliberation: a Broker would retry a 404.
func (h *handlers) statusEvent(ctx context.Context, e event.Event) (reply, error) {
	var d idData
	if err := decodeStrict(e.Data(), &d, "data"); err != nil {
		return reply{}, err
	}
	rep, err := h.backend.Status.Status(ctx, d.DeliberationID)
	if err != nil {
		return reply{}, err
	}
	return reply{Type: transport.TypeStatus, Subject: rep.DeliberationID, Data: rep}, nil
}
