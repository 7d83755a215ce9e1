//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// client talks to the functions as callers, a Broker and a PingSource do.
type client struct {
	http *http.Client
}

func newClient() *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	// func-go bounds a request at 30 s; a request still open later is a hung function.
	return &client{http: &http.Client{Transport: tr, Timeout: 40 * time.Second}}
}

// answer is one HTTP exchange: the status, or err when no answer came; bad says why an answer
// that came is not what the protocol promises.
type answer struct {
	status int
	body   []byte
	event  *event.Event
	err    error
	bad    error
}

// retryable tells an answer that a Broker (or a careful caller) retries: no answer at all, or a
// status that says "later" (docs/events.md: a Broker retries 429 and 5xx).
func (a answer) retryable() bool {
	return a.err != nil || a.status == http.StatusTooManyRequests || a.status >= 500
}

func (c *client) do(req *http.Request) answer {
	res, err := c.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: res.StatusCode, body: body}
	if res.StatusCode == http.StatusOK && res.Header.Get("Ce-Specversion") != "" {
		// The reply is read back with the SDK, so it is checked as a CloudEvent, not as headers.
		res.Body = io.NopCloser(bytes.NewReader(body))
		e, err := binding.ToEvent(req.Context(), cehttp.NewMessageFromHttpResponse(res))
		if err == nil {
			err = e.Validate()
		}
		if err != nil {
			a.bad = fmt.Errorf("reply is not a valid CloudEvent: %w", err)
		}
		a.event = e
	}
	return a
}

// executeHTTP posts a plain JSON execute request, with an Idempotency-Key unless key is empty.
func (c *client) executeHTTP(ctx context.Context, url string, body []byte, key string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.do(req)
}

// sendEvent delivers e in binary or structured mode, as a Broker would.
func (c *client) sendEvent(ctx context.Context, url string, e event.Event, structured bool) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return answer{err: err}
	}
	mode := binding.WithForceBinary(ctx)
	if structured {
		mode = binding.WithForceStructured(ctx)
	}
	if err := cehttp.WriteRequest(mode, binding.ToMessage(&e), req); err != nil {
		return answer{err: err}
	}
	return c.do(req)
}

// newEvent builds an event with data as its JSON payload.
func newEvent(source, id, typ string, data any) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource(source)
	e.SetType(typ)
	e.SetTime(time.Now().UTC())
	if data != nil {
		_ = e.SetData(event.ApplicationJSON, data)
	}
	return e
}

// submission decodes the answer of an execute, from the JSON body or the reply event.
func (a answer) submission() (app.Submission, error) {
	var sub app.Submission
	if a.bad != nil {
		return sub, a.bad
	}
	data := a.body
	if a.event != nil {
		if a.event.Type() != deliberation.TypeSubmitted {
			return sub, fmt.Errorf("reply event of type %q, want %s", a.event.Type(), deliberation.TypeSubmitted)
		}
		data = a.event.Data()
	}
	if err := json.Unmarshal(data, &sub); err != nil || sub.DeliberationID == "" {
		return sub, fmt.Errorf("answer %d is not an execute response: %v: %s", a.status, err, a.body)
	}
	return sub, nil
}

// status reads a deliberation's status by URL; a 404 is a not_found report, not an error.
func (c *client) status(ctx context.Context, statusURL, id string) (app.StatusReport, answer) {
	return c.report(ctx, http.MethodGet, statusURL+"/"+id, http.StatusOK, http.StatusNotFound)
}

// report sends a bodyless request and decodes the status report of an answer with one of ok.
func (c *client) report(ctx context.Context, method, url string, ok ...int) (app.StatusReport, answer) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return app.StatusReport{}, answer{err: err}
	}
	a := c.do(req)
	var r app.StatusReport
	if a.err == nil && slices.Contains(ok, a.status) {
		a.bad = json.Unmarshal(a.body, &r)
	}
	return r, a
}

// statusEvent asks for a deliberation's status with a status.requested event.
func (c *client) statusEvent(ctx context.Context, statusURL, id string, structured bool) (app.StatusReport, answer) {
	e := newEvent("/faults/poller", uuid.NewString(), transport.TypeStatusRequested, map[string]string{"deliberation_id": id})
	a := c.sendEvent(ctx, statusURL, e, structured)
	var r app.StatusReport
	switch {
	case a.err != nil || a.bad != nil || a.status != http.StatusOK:
	case a.event == nil || a.event.Type() != transport.TypeStatus:
		a.bad = fmt.Errorf("answer is not a %s reply event: %s", transport.TypeStatus, a.body)
	default:
		a.bad = json.Unmarshal(a.event.Data(), &r)
	}
	return r, a
}

// cancel asks the status function to cancel a deliberation (DELETE /{id}).
func (c *client) cancel(ctx context.Context, statusURL, id string) (app.StatusReport, answer) {
	return c.report(ctx, http.MethodDelete, statusURL+"/"+id, http.StatusOK, http.StatusAccepted)
}

// stats reads the counters.
func (c *client) stats(ctx context.Context, statsURL string) (app.StatsReport, answer) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL, nil)
	if err != nil {
		return app.StatsReport{}, answer{err: err}
	}
	a := c.do(req)
	var r app.StatsReport
	if a.err == nil && a.status == http.StatusOK {
		a.bad = json.Unmarshal(a.body, &r)
	}
	return r, a
}

// ping sends what a PingSource sends: the status function runs a reconcile pass.
func (c *client) ping(ctx context.Context, statusURL string) answer {
	return c.sendEvent(ctx, statusURL, newEvent("/faults/ping", uuid.NewString(), transport.TypePing, nil), false)
}
