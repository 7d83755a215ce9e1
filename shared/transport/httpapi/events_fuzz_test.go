package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// FuzzParseEvent feeds arbitrary headers and bodies to the CloudEvents decoding path, in binary
// mode (ce-* headers) and structured mode (an application/cloudevents+json body): it never panics,
// refuses with an invalid-input error, and whatever it accepts is a valid CloudEvent, in binary
// mode with the id and type its headers carried (a structured media type wins over ce-* headers).
func FuzzParseEvent(f *testing.F) {
	f.Add(false, "application/json", "1.0", "id-1", "/source", transport.TypeExecuteRequested, []byte(validExecuteBody))
	f.Add(true, "application/cloudevents+json", "", "", "", "",
		[]byte(`{"specversion":"1.0","type":"t","source":"s","id":"1","data":{"deliberation_id":"x"}}`))
	f.Add(true, "application/cloudevents+json; charset=utf-8", "", "", "", "",
		[]byte(`{"specversion":"1.0","type":"t","source":"s","id":"1","data_base64":"AAEC"}`))
	f.Add(true, "application/cloudevents-batch+json", "", "", "", "", []byte(`[{"specversion":"1.0"}]`))
	f.Add(false, "text/plain", "0.3", "", "%zz", "t", []byte("x"))
	f.Add(false, "", "1.0", "i", "s", "t", []byte(nil))
	f.Fuzz(func(t *testing.T, structured bool, contentType, specversion, id, source, typ string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if !structured {
			h.Set("ce-specversion", specversion)
			h.Set("ce-id", id)
			h.Set("ce-source", source)
			h.Set("ce-type", typ)
		}
		if !isCloudEvent(h) {
			return // plain JSON: the execute decoder's fuzz covers it
		}
		e, err := parseEvent(context.Background(), h, body)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		// A header value is read without the blanks around it, as it travels (RFC 9110's optional
		// whitespace; other control characters never get through an HTTP server). The source is a
		// URI reference the SDK normalizes; FuzzEventRoundTrip checks it survives the trip.
		header := func(name string) string { return strings.TrimSpace(h.Get(name)) }
		binary := cehttp.NewMessage(h, nil).ReadEncoding() == binding.EncodingBinary
		if binary && (e.ID() != header("ce-id") || e.Type() != header("ce-type")) {
			t.Fatalf("binary event %q %q decoded as %q %q", h.Get("ce-id"), h.Get("ce-type"), e.ID(), e.Type())
		}
	})
}

// FuzzEventRoundTrip sends events the SDK writes, as a Broker does, in both modes: the decoding
// path reads back the attributes and data that were written, so an event's source and id (the
// idempotency key of execute) survive the trip whatever characters they hold.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(false, "id-1", "/broker", transport.TypeExecuteRequested, []byte(validExecuteBody))
	f.Add(true, "ünïcode id", "urn:x:y", transport.TypeStatusRequested, []byte(`{"deliberation_id":"delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"}`))
	f.Add(false, "a,b;c=d", "//s?q#f", "t", []byte(`"a string"`))
	f.Fuzz(func(t *testing.T, structured bool, id, source, typ string, data []byte) {
		in := event.New()
		in.SetID(id)
		in.SetSource(source)
		in.SetType(typ)
		if json.Valid(data) {
			if err := in.SetData(event.ApplicationJSON, json.RawMessage(data)); err != nil {
				return
			}
		}
		if in.Validate() != nil {
			return
		}
		ctx := binding.WithForceBinary(context.Background())
		if structured {
			ctx = binding.WithForceStructured(context.Background())
		}
		req, err := http.NewRequest(http.MethodPost, "http://function.test/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cehttp.WriteRequest(ctx, binding.ToMessage(&in), req); err != nil {
			return // the SDK cannot carry these attributes over HTTP; no Broker sends them
		}
		var body []byte
		if req.Body != nil { // an event without data has no body in binary mode
			if body, err = io.ReadAll(req.Body); err != nil {
				t.Fatal(err)
			}
		}
		if !isCloudEvent(req.Header) {
			t.Fatalf("an event the SDK wrote is not recognised as one: %v", req.Header)
		}
		out, err := parseEvent(context.Background(), req.Header, body)
		if err != nil {
			t.Fatalf("an event the SDK wrote is refused: %v", err)
		}
		if out.ID() != in.ID() || out.Source() != in.Source() || out.Type() != in.Type() || !sameJSON(out.Data(), in.Data()) {
			t.Fatalf("sent %q %q %q %s, read %q %q %q %s", in.ID(), in.Source(), in.Type(), in.Data(),
				out.ID(), out.Source(), out.Type(), out.Data())
		}
		if eventKey(out) != eventKey(in) {
			t.Fatal("the idempotency key changed on the way")
		}
		if !deliberation.ValidIdempotencyKey(eventKey(out)) {
			t.Fatalf("event key %q is not a valid idempotency key", eventKey(out))
		}
	})
}

// sameJSON compares two JSON payloads by value: structured mode may re-indent them.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ra, _ := json.Marshal(va)
	rb, _ := json.Marshal(vb)
	return bytes.Equal(ra, rb)
}
