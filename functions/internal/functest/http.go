package functest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Proto is the protocol the answer came over ("HTTP/1.1", "HTTP/2.0").
	Proto string
}

// Request builds a request to url; a body is sent as application/json, headers come in name,
// value pairs (an empty value deletes the header).
func Request(t testing.TB, method, url, body string, headers ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// Binary builds a binary-mode CloudEvent.
func Binary(t testing.TB, url, typ, id, data string, headers ...string) *http.Request {
	t.Helper()
	return Request(t, http.MethodPost, url, data, append([]string{"ce-specversion", "1.0", "ce-type", typ,
		"ce-source", "/functest", "ce-id", id}, headers...)...)
}

// Structured builds a structured-mode CloudEvent.
func Structured(t testing.TB, url, typ, id, data string, headers ...string) *http.Request {
	t.Helper()
	e := map[string]any{"specversion": "1.0", "type": typ, "source": "/functest", "id": id, "datacontenttype": "application/json"}
	if data != "" {
		e["data"] = json.RawMessage(data)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return Request(t, http.MethodPost, url, string(raw), append([]string{"Content-Type", "application/cloudevents+json"}, headers...)...)
}

// Modes builds the same event in either mode.
var Modes = map[string]func(t testing.TB, url, typ, id, data string, headers ...string) *http.Request{
	"binary": Binary, "structured": Structured,
}

// Do sends req and reads the answer. Safe for concurrent use.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	return DoWith(t, http.DefaultClient, req)
}

// DoWith is Do through client c (H2C, say).
func DoWith(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return Response{}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Error(err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: body, Proto: res.Proto}
}

// Call is Do(Request(...)).
func Call(t testing.TB, method, url, body string, headers ...string) Response {
	t.Helper()
	return Do(t, Request(t, method, url, body, headers...))
}

// JSON decodes the body as an object.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// Problem checks an RFC 9457 answer with status and returns the fields it names.
func (r Response) Problem(t testing.TB, status int) []string {
	t.Helper()
	if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("want a %d problem, got %d %s: %s", status, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var p struct {
		Type, Title string
		Status      int
		Errors      []struct{ Field, Message string }
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != status || p.Type == "" || p.Title == "" || p.Errors == nil {
		t.Fatalf("not a problem document: %s", r.Body)
	}
	fields := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		fields[i] = e.Field
	}
	return fields
}

// Reply checks a binary-mode reply event of type typ and returns its data.
func (r Response) Reply(t testing.TB, typ string) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK || r.Header.Get("Ce-Type") != typ || r.Header.Get("Ce-Specversion") != "1.0" ||
		r.Header.Get("Ce-Id") == "" || r.Header.Get("Ce-Source") == "" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("want a binary %s reply, got %d %v: %s", typ, r.Status, r.Header, r.Body)
	}
	return r.JSON(t)
}
