package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// jobsData is the data of a jobs request; an absent limit is the default page size.
type jobsData struct {
	Limit  *int   `json:"limit"`
	Cursor string `json:"cursor"`
}

func (h *handlers) jobsHTTP(w http.ResponseWriter, r *http.Request) {
	observe.RequestFrom(r.Context()).Route = string(transport.UseJobs)
	q := r.URL.Query()
	limit := app.DefaultJobsLimit
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil {
			h.fail(w, r, transport.Invalid("limit", "limit must be an integer between 1 and 1000"))
			return
		}
		limit = n
	}
	page, err := h.backend.Jobs.ActiveJobs(r.Context(), limit, q.Get("cursor"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *handlers) jobsEvent(ctx context.Context, e event.Event) (reply, error) {
	d := jobsData{}
	if len(e.Data()) > 0 {
		if err := decodeStrict(e.Data(), &d, "data"); err != nil {
			return reply{}, err
		}
	}
	limit := app.DefaultJobsLimit
	if d.Limit != nil {
		limit = *d.Limit
	}
	page, err := h.backend.Jobs.ActiveJobs(ctx, limit, d.Cursor)
	if err != nil {
		return reply{}, err
	}
	return reply{Type: transport.TypeJobs, Data: page}, nil
}
