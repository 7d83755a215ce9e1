package modelserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// control sends one control request and returns its status, decoding a JSON answer into out.
func control(t *testing.T, s *Server, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+ControlPrefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestControlSetsBehaviours(t *testing.T) {
	t.Parallel()
	s := New(t)
	if st := control(t, s, "POST", "behavior", `{"model":"m","answer":"do X","reasoning":"r","total_tokens":812,"fail_status":503,"fail_first":1,"delay_seconds":0.05}`, nil); st != http.StatusNoContent {
		t.Fatalf("set behavior: %d", st)
	}
	if status, _ := mustPost(t, s, chatBody("m")); status != 503 {
		t.Fatalf("first call: status %d, want 503", status)
	}
	start := time.Now()
	status, a := mustPost(t, s, chatBody("m"))
	if msg := a.Choices[0].Message; status != 200 || msg.Content != "do X" || msg.ReasoningContent != "r" || a.Usage.TotalTokens != 812 {
		t.Fatalf("second call: %d %+v", status, a)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("delay_seconds was not waited")
	}
	if st := control(t, s, "POST", "judge/scores", `{"a1":0.25}`, nil); st != http.StatusNoContent {
		t.Fatalf("judge scores: %d", st)
	}
	if _, a := mustPost(t, s, judgeBody("a1", "a2")); judgeScores(t, a)["a1"] != 0.25 || len(judgeScores(t, a)) != 1 {
		t.Errorf("judge answered %+v", a)
	}
	control(t, s, "POST", "judge/content", `{"content":"I liked the first"}`, nil)
	if _, a := mustPost(t, s, judgeBody("a1")); a.Choices[0].Message.Content != "I liked the first" {
		t.Errorf("judge answered %q", a.Choices[0].Message.Content)
	}
}

// TestControlRefusesWhatItDoesNotKnow: a misspelt setting fails loudly instead of being ignored,
// and an unknown control path is neither answered as a model call nor recorded.
func TestControlRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	s := New(t)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "behavior", `{"model":"m","fail_times":2}`},
		{"POST", "behavior", `{"model":"m","stall":"yes"}`},
		{"POST", "judge/scores", `["a1"]`},
	} {
		if st := control(t, s, c.method, c.path, c.body, nil); st != http.StatusBadRequest {
			t.Errorf("%s %s %s: status %d, want 400", c.method, c.path, c.body, st)
		}
	}
	if st := control(t, s, "POST", "nothing", "{}", nil); st != http.StatusNotFound {
		t.Errorf("unknown control path: status %d, want 404", st)
	}
	if st := control(t, s, "GET", "behavior", "", nil); st != http.StatusNotFound {
		t.Errorf("GET of a setter: status %d, want 404", st)
	}
	if got := s.Requests(); len(got) != 0 {
		t.Errorf("control requests were recorded: %+v", got)
	}
	if status, a := mustPost(t, s, chatBody("m")); status != 200 || a.Choices[0].Message.Content != "proposal from m" {
		t.Errorf("a refused setting changed the model: %d %+v", status, a)
	}
}

func TestControlReadsRecordings(t *testing.T) {
	t.Parallel()
	s := New(t)
	before := time.Now()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/events", bytes.NewReader([]byte(`{"deliberation_id":"d"}`)))
	req.Header.Set("Ce-Type", "finished")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	control(t, s, "POST", "behavior", `{"model":"big","stream_bytes":1000}`, nil)
	resp = rawPost(t, http.DefaultClient, s, "big")
	var streamed bytes.Buffer
	if _, err := streamed.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, nil)
	var recorded struct{ Requests []RequestJSON }
	control(t, s, "GET", "requests", "", &recorded)
	if len(recorded.Requests) != 2 {
		t.Fatalf("requests %+v", recorded.Requests)
	}
	event := recorded.Requests[0]
	if event.Method != "POST" || event.Path != "/events" || event.Headers["ce-type"] != "finished" ||
		event.Body != `{"deliberation_id":"d"}` || event.At < float64(before.UnixNano())/1e9 || event.At > float64(time.Now().UnixNano())/1e9 {
		t.Errorf("event %+v", event)
	}
	if chat := recorded.Requests[1]; chat.Path != ChatPath || !strings.Contains(chat.Body, `"model":"big"`) {
		t.Errorf("chat %+v", chat)
	}
	var streams struct{ Streams []StreamJSON }
	control(t, s, "GET", "streams", "", &streams)
	if len(streams.Streams) != 1 || streams.Streams[0] != (StreamJSON{1000, 1000, true}) {
		t.Errorf("streams %+v", streams.Streams)
	}
}

// TestResetForgetsEverythingAndReleasesStalls: after a reset the fake answers as if new, and a
// request stalled before it is let go (dropped, never answered).
func TestResetForgetsEverythingAndReleasesStalls(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("m", Behavior{Stall: true})
	s.SetJudgeContent("garbage")
	released := make(chan error, 1)
	go func() {
		resp, err := http.Post(s.URL()+ChatPath, "application/json", bytes.NewReader(mustJSON(t, chatBody("m"))))
		if err == nil {
			resp.Body.Close()
		}
		released <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := control(t, s, "POST", "reset", "", nil); st != http.StatusNoContent {
		t.Fatalf("reset: %d", st)
	}
	select {
	case err := <-released:
		if err == nil {
			t.Fatal("a stalled request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reset left the stalled request hanging")
	}
	if got := s.Requests(); len(got) != 0 {
		t.Fatalf("recordings survived the reset: %+v", got)
	}
	if status, a := mustPost(t, s, chatBody("m")); status != 200 || a.Choices[0].Message.Content != "proposal from m" {
		t.Errorf("behaviour survived the reset: %d %+v", status, a)
	}
	if _, a := mustPost(t, s, judgeBody("a1")); judgeScores(t, a)["a1"] != 0.9 {
		t.Errorf("judge content survived the reset: %+v", a)
	}
}
