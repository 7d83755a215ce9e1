package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/transport/observe"
)

// eventHandler runs a use case for one event and says what to reply.
type eventHandler func(ctx context.Context, e event.Event) (reply, error)

// reply is the answer to an event; an empty Type means there is nothing to say (200, no body).
type reply struct {
	Type    string
	Subject string
	Data    any
}

// isCloudEvent tells a CloudEvent from plain JSON by its headers alone: ce-specversion (binary
// mode) or a CloudEvents media type (structured or batched).
func isCloudEvent(h http.Header) bool {
	return cehttp.NewMessage(h, nil).ReadEncoding() != binding.EncodingUnknown
}

// eventsHTTP answers a CloudEvent. Delivery is at least once and a Broker retries 429 and 5xx,
// so only a failure that a retry may fix is answered with one: bad events are 400 (dead letter),
// and a well-formed request about an unknown deliberation is a 200 reply.
func (h *handlers) eventsHTTP(w http.ResponseWriter, r *http.Request) {
	in := observe.RequestFrom(r.Context())
	in.Route, in.Transport = "events", "cloudevents"
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	e, err := parseEvent(r.Context(), r.Header, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in.EventType, in.EventID = shown(e.Type()), shown(e.ID())
	ctx, span := observe.EventSpan(r.Context(), h.opts.Tracing, eventTrace(e), e.Type(), e.ID(), e.Source())
	defer span.End()
	r = r.WithContext(ctx)
	in.Trace, _ = observe.TraceFrom(ctx)
	// The wake-up carries no authority (it only makes the service look at Ray), so the job needs
	// no token to send it; everything else does.
	if !in.Authenticated && e.Type() != deliberation.TypeFinished {
		h.unauthorized(w, r)
		return
	}
	route, ok := h.events[e.Type()]
	if !ok {
		h.fail(w, r, transport.Invalid("type", "event type "+in.EventType+" is not accepted by this function"))
		return
	}
	in.Route = route.route
	if !eventDataIsJSON(e) {
		transport.ProtocolProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"event data must be JSON: datacontenttype application/json, text/json, a +json type, or none").Write(w)
		return
	}
	rep, err := route.handle(r.Context(), e)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rep.Subject != "" && deliberation.ValidID(rep.Subject) {
		in.DeliberationID = rep.Subject
	}
	h.writeReply(w, r, rep)
}

// eventDataIsJSON tells whether an event's data is JSON the way sdk-go's Event.DataAs decides it:
// an event without datacontenttype carries JSON (a binary-mode event without Content-Type, which
// is what the CloudEvents SDKs send for a JSON object by default), and so do application/json,
// text/json and any +json type, with or without parameters. Any other declared type is not read
// as JSON, whatever the bytes look like.
func eventDataIsJSON(e event.Event) bool {
	ct := e.DataContentType()
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == event.ApplicationJSON || mt == event.TextJSON || strings.HasSuffix(mt, "+json"))
}

func parseEvent(ctx context.Context, header http.Header, body []byte) (event.Event, error) {
	msg := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	if msg.ReadEncoding() == binding.EncodingBatch {
		return event.Event{}, transport.Invalid("event", "batched CloudEvents are not accepted")
	}
	e, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return event.Event{}, transport.Invalid("event", "malformed CloudEvent: "+shown(err.Error()))
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, transport.Invalid("event", "invalid CloudEvent: "+shown(err.Error()))
	}
	return *e, nil
}

// eventTrace reads the distributed-tracing extension; it wins over the HTTP header because it is
// the trace of the event itself, which a Broker keeps across hops.
func eventTrace(e event.Event) observe.Trace {
	parent, _ := e.Extensions()["traceparent"].(string)
	state, _ := e.Extensions()["tracestate"].(string)
	return observe.Trace{Parent: parent, State: state}
}

// writeReply answers 200 with the reply event in binary mode (a Broker does not treat a 202 as a
// reply), echoing the trace context.
func (h *handlers) writeReply(w http.ResponseWriter, r *http.Request, rep reply) {
	if rep.Type == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetSource(h.opts.Source)
	e.SetType(rep.Type)
	e.SetTime(time.Now().UTC())
	if rep.Subject != "" {
		e.SetSubject(rep.Subject)
	}
	if t, ok := observe.TraceFrom(r.Context()); ok {
		e.SetExtension("traceparent", t.Parent)
		if t.State != "" {
			e.SetExtension("tracestate", t.State)
		}
	}
	if err := e.SetData(event.ApplicationJSON, rep.Data); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := binding.WithForceBinary(r.Context())
	if err := cehttp.WriteResponseWriter(ctx, binding.ToMessage(&e), http.StatusOK, w); err != nil {
		h.log.WarnContext(r.Context(), "reply event not written", "error", err)
	}
}

// eventKey is the idempotency key of an event: its source and id identify it across redeliveries.
// They are hashed into printable ASCII because the key must be 1-255 printable characters and
// neither attribute is bounded.
func eventKey(e event.Event) string {
	sum := sha256.Sum256([]byte(e.Source() + "\x00" + e.ID()))
	return "cloudevent:" + hex.EncodeToString(sum[:])
}

// shown makes a caller-chosen string fit for a log line or an answer: printable, and bounded
// because nothing bounds an event's attributes.
func shown(s string) string {
	return deliberation.Printable(deliberation.Shorten(s, 200))
}
