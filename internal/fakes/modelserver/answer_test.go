package modelserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func rawPost(t *testing.T, client *http.Client, s *Server, model string) *http.Response {
	t.Helper()
	resp, err := client.Post(s.URL()+ChatPath, "application/json", bytes.NewReader(mustJSON(t, chatBody(model))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRawErrorBody(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("m", Behavior{FailStatus: 400, ErrorBody: "\x1b[31mred\x00"})
	resp := rawPost(t, http.DefaultClient, s, "m")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || string(body) != "\x1b[31mred\x00" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("status %d, %q, %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestRedirectIsSentAsWritten(t *testing.T) {
	t.Parallel()
	s := New(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, status := range []int{301, 302, 303, 307, 308} {
		s.SetBehavior("m", Behavior{RedirectStatus: status, RedirectTo: "/elsewhere?key=s3cret"})
		resp := rawPost(t, noFollow, s, "m")
		if resp.StatusCode != status || resp.Header.Get("Location") != "/elsewhere?key=s3cret" {
			t.Errorf("status %d, Location %q; want %d", resp.StatusCode, resp.Header.Get("Location"), status)
		}
	}
	// A failure still comes first, as in the order of Behavior's fields.
	s.SetBehavior("f", Behavior{FailStatus: 503, FailFirst: 1, RedirectStatus: 302, RedirectTo: "/x"})
	if first := rawPost(t, noFollow, s, "f"); first.StatusCode != 503 {
		t.Errorf("first: status %d, want 503", first.StatusCode)
	}
	if second := rawPost(t, noFollow, s, "f"); second.StatusCode != 302 {
		t.Errorf("second: status %d, want 302", second.StatusCode)
	}
}

// TestStreamReadWholeIsAValidAnswer: a client that reads it all gets an answer of exactly the size
// asked, whose content is the filler, and the fake records it completed.
func TestStreamReadWholeIsAValidAnswer(t *testing.T) {
	t.Parallel()
	for _, announce := range []bool{false, true} {
		s := New(t)
		s.SetBehavior("m", Behavior{StreamBytes: 3<<20 + 17, AnnounceLength: announce})
		resp := rawPost(t, http.DefaultClient, s, "m")
		body, err := io.ReadAll(resp.Body)
		if err != nil || len(body) != 3<<20+17 {
			t.Fatalf("announce %v: read %d bytes, %v", announce, len(body), err)
		}
		if announce != (resp.ContentLength == int64(len(body))) {
			t.Errorf("announce %v: Content-Length %d", announce, resp.ContentLength)
		}
		var a answer
		if err := json.Unmarshal(body, &a); err != nil || strings.Trim(a.Choices[0].Message.Content, "x") != "" {
			t.Fatalf("announce %v: not a completion of x: %v", announce, err)
		}
		waitStreams(t, s, []Stream{{Total: 3<<20 + 17, Sent: 3<<20 + 17, Completed: true}})
	}
}

// TestStreamLeftUnreadIsNotCompleted: when the client stops reading and leaves, the fake records
// how much it could send, less than the whole.
func TestStreamLeftUnreadIsNotCompleted(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("m", Behavior{StreamBytes: 64 << 20})
	resp := rawPost(t, http.DefaultClient, s, "m")
	if _, err := io.CopyN(io.Discard, resp.Body, 1000); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := waitStreams(t, s, nil)
	if len(got) != 1 || got[0].Completed || got[0].Sent >= got[0].Total || got[0].Sent < 1000 {
		t.Fatalf("streams %+v, want one cut short", got)
	}
}

func waitStreams(t *testing.T, s *Server, want []Stream) []Stream {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Streams()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := s.Streams()
	if want != nil && (len(got) != len(want) || got[0] != want[0]) {
		t.Fatalf("streams %+v, want %+v", got, want)
	}
	return got
}
