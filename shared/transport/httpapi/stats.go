package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// unhealthy is the stats answer while the store is unreachable: docs/api.md has the stats response
// say `unhealthy` with 503, which a problem document cannot (its status member is the number).
type unhealthy struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"error_message"`
}

func (h *handlers) statsHTTP(w http.ResponseWriter, r *http.Request) {
	observe.RequestFrom(r.Context()).Route = string(transport.UseStats)
	rep, err := h.backend.Stats.Stats(r.Context())
	if deliberation.ErrorCode(err) == deliberation.CodeUnavailable {
		h.log.WarnContext(r.Context(), "stats unavailable", "error", err.Error())
		w.Header().Set("Retry-After", strconv.Itoa(int(transport.ProblemOf(err).RetryAfter/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, unhealthy{Status: "unhealthy", ErrorMessage: deliberation.ErrorMessage(err)})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// statsEvent takes `{}` or no data at all.
func (h *handlers) statsEvent(ctx context.Context, e event.Event) (reply, error) {
	if len(e.Data()) > 0 {
		var none struct{}
		if err := decodeStrict(e.Data(), &none, "data"); err != nil {
			return reply{}, err
		}
	}
	rep, err := h.backend.Stats.Stats(ctx)
	if err != nil {
		return reply{}, err
	}
	return reply{Type: transport.TypeStats, Data: rep}, nil
}
