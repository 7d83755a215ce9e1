package httpapi

import (
	"bytes"
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// cancelData is the data of the cancel request event.
type cancelData struct {
	DeliberationID string `json:"deliberation_id"`
	Reason         string `json:"reason,omitempty"`
}

// cancelBody is the optional JSON body of DELETE.
type cancelBody struct {
	Reason string `json:"reason,omitempty"`
}

// cancelHTTP cancels a deliberation: 202 with the status report when this call recorded the
// cancel (the Ray side may still be stopping), 200 with it when the deliberation was cancelled
// before, 409 problem+json naming the terminal status when it had completed or failed, and 404
// when unknown. The body is optional: {"reason": "..."} as application/json.
func (h *handlers) cancelHTTP(w http.ResponseWriter, r *http.Request) {
	in := observe.RequestFrom(r.Context())
	in.Route = string(transport.UseCancel)
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var b cancelBody
	if len(bytes.TrimSpace(body)) > 0 {
		if !requireJSON(w, r) {
			return
		}
		if err := decodeStrict(body, &b, "body"); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	res, err := h.backend.Cancel.Cancel(r.Context(), r.PathValue("id"), b.Reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.DeliberationID = res.Report.DeliberationID
	switch res.Outcome {
	case app.CancelRecorded:
		writeJSON(w, http.StatusAccepted, res.Report)
	case app.CancelAlready:
		writeJSON(w, http.StatusOK, res.Report)
	case app.CancelNotFound:
		writeJSON(w, http.StatusNotFound, res.Report)
	default:
		p := transport.ProtocolProblem(http.StatusConflict, "already-finished",
			"deliberation "+res.Report.DeliberationID+" already "+string(res.Report.Status)+"; it cannot be cancelled")
		p.DeliberationStatus = res.Report.Status
		p.Write(w)
	}
}

// cancelEvent replies with the status report in every case (recorded, already cancelled, already
// finished, unknown): a Broker would retry a 404 or a 409 forever. The report's status says what
// happened.
func (h *handlers) cancelEvent(ctx context.Context, e event.Event) (reply, error) {
	var d cancelData
	if err := decodeStrict(e.Data(), &d, "data"); err != nil {
		return reply{}, err
	}
	res, err := h.backend.Cancel.Cancel(ctx, d.DeliberationID, d.Reason)
	if err != nil {
		return reply{}, err
	}
	return reply{Type: transport.TypeStatus, Subject: res.Report.DeliberationID, Data: res.Report}, nil
}
