package httpapi

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// wakeEvent hands a finished wake-up to the Waker. The id is validated here: the event needs no
// token, so nothing else about it is trusted. There is nothing to reply.
func (h *handlers) wakeEvent(ctx context.Context, e event.Event) (reply, error) {
	var d idData
	if err := decodeStrict(e.Data(), &d, "data"); err != nil {
		return reply{}, err
	}
	if err := deliberation.CheckID(d.DeliberationID); err != nil {
		return reply{}, err
	}
	return reply{Subject: d.DeliberationID}, h.backend.Wake.Wake(ctx, d.DeliberationID)
}

// reconcileEvent runs a reconcile pass for the PingSource; its data (whatever the source was
// configured to send) is not read.
func (h *handlers) reconcileEvent(ctx context.Context, _ event.Event) (reply, error) {
	return reply{}, h.backend.Reconcile.Reconcile(ctx)
}
