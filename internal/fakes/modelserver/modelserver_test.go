package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

type answer struct {
	Choices []struct {
		Message struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

func chatBody(model string) map[string]any {
	return map[string]any{
		"model":       model,
		"messages":    []map[string]string{{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}},
		"temperature": 0.7,
		"max_tokens":  2048,
	}
}

func judgeBody(ids ...string) map[string]any {
	body := chatBody("judge")
	body["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{
		"name": "scores", "strict": true, "schema": map[string]any{"properties": map[string]any{
			"scores": map[string]any{"items": map[string]any{"properties": map[string]any{
				"agent_id": map[string]any{"type": "string", "enum": ids}}}}}}}}
	return body
}

func post(t *testing.T, client *http.Client, target string, body any) (int, answer, error) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(target, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	return resp.StatusCode, a, nil
}

func mustPost(t *testing.T, s *Server, body any) (int, answer) {
	t.Helper()
	status, a, err := post(t, http.DefaultClient, s.URL()+ChatPath, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, a
}

func TestListensOnLoopback(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(New(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" {
		t.Fatalf("host = %s, want 127.0.0.1 (Ray workers reach it there)", u.Hostname())
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("custom", Behavior{Answer: "do X", Reasoning: "because", TotalTokens: 812})
	tests := []struct {
		model, content, reasoning string
		tokens                    int
	}{
		{"m1", "proposal from m1", "", 42},
		{"custom", "do X", "because", 812},
	}
	for _, tt := range tests {
		status, a := mustPost(t, s, chatBody(tt.model))
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", tt.model, status)
		}
		msg := a.Choices[0].Message
		if msg.Content != tt.content || msg.ReasoningContent != tt.reasoning || a.Usage.TotalTokens != tt.tokens {
			t.Errorf("%s: got %q/%q/%d, want %q/%q/%d", tt.model, msg.Content, msg.ReasoningContent,
				a.Usage.TotalTokens, tt.content, tt.reasoning, tt.tokens)
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behavior Behavior
		want     []int
	}{
		{"always", Behavior{FailStatus: 503}, []int{503, 503, 503}},
		{"first two", Behavior{FailStatus: 429, FailFirst: 2}, []int{429, 429, 200}},
		{"client error", Behavior{FailStatus: 400}, []int{400, 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(t)
			s.SetBehavior("m", tt.behavior)
			for i, want := range tt.want {
				status, a := mustPost(t, s, chatBody("m"))
				if status != want {
					t.Fatalf("request %d: status %d, want %d", i+1, status, want)
				}
				if want != http.StatusOK && a.Error.Message != "fake failure of m" {
					t.Fatalf("error message %q", a.Error.Message)
				}
			}
			if got := len(s.RequestsFor("m")); got != len(tt.want) {
				t.Fatalf("recorded %d requests, want %d", got, len(tt.want))
			}
		})
	}
}

func TestStallHoldsUntilTheClientGivesUp(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("slowpoke", Behavior{Stall: true})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, _, err := post(t, client, s.URL()+ChatPath, chatBody("slowpoke"))
	var netErr interface{ Timeout() bool }
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Fatalf("answered after %v", elapsed)
	}
	if len(s.RequestsFor("slowpoke")) != 1 {
		t.Fatal("stalled request not recorded")
	}
}

func TestStallIsReleasedWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	released := make(chan error, 1)
	t.Run("owner", func(t *testing.T) {
		s := New(t)
		s.SetBehavior("m", Behavior{Stall: true})
		body := mustJSON(t, chatBody("m"))
		go func() {
			resp, err := http.Post(s.URL()+ChatPath, "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
			released <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for len(s.Requests()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	})
	select {
	case err := <-released:
		if err == nil {
			t.Fatal("a stalled request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cleanup left the stalled request hanging")
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetBehavior("m", Behavior{Delay: 150 * time.Millisecond})
	start := time.Now()
	if status, _ := mustPost(t, s, chatBody("m")); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least the delay", elapsed)
	}
}

func judgeScores(t *testing.T, a answer) map[string]float64 {
	t.Helper()
	var doc struct {
		Scores []struct {
			AgentID   string  `json:"agent_id"`
			Score     float64 `json:"score"`
			Rationale string  `json:"rationale"`
		} `json:"scores"`
	}
	if err := json.Unmarshal([]byte(a.Choices[0].Message.Content), &doc); err != nil {
		t.Fatalf("judge content %q: %v", a.Choices[0].Message.Content, err)
	}
	scores := map[string]float64{}
	for _, s := range doc.Scores {
		if s.Rationale == "" {
			t.Errorf("no rationale for %s", s.AgentID)
		}
		scores[s.AgentID] = s.Score
	}
	return scores
}

func TestJudgeDefaultScoresDecrease(t *testing.T) {
	t.Parallel()
	s := New(t)
	_, a := mustPost(t, s, judgeBody("a1", "a2", "a3"))
	got := judgeScores(t, a)
	want := map[string]float64{"a1": 0.9, "a2": 0.8, "a3": 0.7}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%s = %v, want %v", id, got[id], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("scores = %v", got)
	}
}

func TestDefaultScoresStayInRange(t *testing.T) {
	t.Parallel()
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = fmt.Sprintf("a%d", i)
	}
	for id, v := range DefaultScores(ids) {
		if v < 0 || v > 1 {
			t.Errorf("%s = %v, outside [0, 1]", id, v)
		}
	}
}

func TestJudgeConfiguredScoresAndGarbage(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.SetJudgeScores(map[string]float64{"a1": 0.2, "a2": 1})
	_, a := mustPost(t, s, judgeBody("a1", "a2"))
	if got := judgeScores(t, a); got["a1"] != 0.2 || got["a2"] != 1 {
		t.Fatalf("scores = %v", got)
	}
	s.SetJudgeContent("I liked a1")
	_, a = mustPost(t, s, judgeBody("a1", "a2"))
	if got := a.Choices[0].Message.Content; got != "I liked a1" {
		t.Fatalf("content = %q", got)
	}
	// An agent's call is never answered with judge content.
	if _, a := mustPost(t, s, chatBody("m")); a.Choices[0].Message.Content != "proposal from m" {
		t.Fatalf("agent answer = %q", a.Choices[0].Message.Content)
	}
}

func TestJudgeAgentIDsFromThePromptWithoutASchema(t *testing.T) {
	t.Parallel()
	r := Request{
		ResponseFormat: json.RawMessage(`{"type":"json_object"}`),
		Messages:       []Message{{Role: "user", Content: `<proposal agent_id="x1">a</proposal><proposal agent_id="x2">b</proposal>`}},
	}
	if got := strings.Join(r.JudgeAgentIDs(), ","); got != "x1,x2" {
		t.Fatalf("ids = %s", got)
	}
}

func TestRecordsDecodedRequests(t *testing.T) {
	t.Parallel()
	s := New(t)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL()+ChatPath,
		bytes.NewReader(mustJSON(t, judgeBody("a1"))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mustPost(t, s, chatBody("m1"))

	got := s.Requests()
	if len(got) != 2 {
		t.Fatalf("recorded %d requests", len(got))
	}
	judge, agent := got[0], got[1]
	if !judge.IsJudge() || judge.Model != "judge" || judge.Header.Get("Authorization") != "Bearer k" {
		t.Fatalf("judge request = %+v", judge)
	}
	if ids := judge.JudgeAgentIDs(); len(ids) != 1 || ids[0] != "a1" {
		t.Fatalf("judge ids = %v", ids)
	}
	if agent.IsJudge() || agent.Model != "m1" || agent.Message("system") != "sys" || agent.Message("user") != "task" {
		t.Fatalf("agent request = %+v", agent)
	}
	if agent.Temperature == nil || *agent.Temperature != 0.7 || agent.MaxTokens == nil || *agent.MaxTokens != 2048 {
		t.Fatalf("sampling = %v/%v", agent.Temperature, agent.MaxTokens)
	}
	if len(s.JudgeRequests()) != 1 || len(s.RequestsFor("m1")) != 1 || len(s.Events()) != 0 {
		t.Fatal("filters disagree with the recorded requests")
	}
}

func TestRecordsEventsOnOtherPaths(t *testing.T) {
	t.Parallel()
	s := New(t)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL()+"/events",
		strings.NewReader(`{"deliberation_id":"delib-x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("ce-type", deliberation.TypeFinished)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := s.Events()
	if len(events) != 1 || events[0].Path != "/events" ||
		events[0].Header.Get("Ce-Type") != deliberation.TypeFinished ||
		string(events[0].Body) != `{"deliberation_id":"delib-x"}` {
		t.Fatalf("events = %+v", events)
	}
}

func TestRefusesWhatIsNotAChatRequest(t *testing.T) {
	t.Parallel()
	s := New(t)
	resp, err := http.Post(s.URL()+ChatPath, "application/json", strings.NewReader("{nope"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

// TestGetIsRecordedAndAnswered: a GET is what a client makes of a followed 301, 302 or 303, so it
// gets a usable proposal (the job under test would show it) and is recorded with its headers.
func TestGetIsRecordedAndAnswered(t *testing.T) {
	t.Parallel()
	s := New(t)
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/elsewhere", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK ||
		a.Choices[0].Message.Content != "proposal fetched by GET" {
		t.Fatalf("GET: status %d, %+v, %v", resp.StatusCode, a, err)
	}
	got := s.Requests()
	if len(got) != 1 || got[0].Method != http.MethodGet || got[0].Path != "/elsewhere" || got[0].Header.Get("Authorization") != "Bearer k" {
		t.Fatalf("recorded %+v", got)
	}
	req, _ = http.NewRequest(http.MethodDelete, s.URL()+ChatPath, nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: status %d, want 405", resp.StatusCode)
	}
}

// TestConcurrentUse is meaningful under -race: requests, setters and readers all at once.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(t)
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if status, _ := mustPost(t, s, chatBody(fmt.Sprintf("m%d", i%4))); status != http.StatusOK {
				t.Errorf("status %d", status)
			}
		}()
		go func() {
			defer wg.Done()
			s.SetBehavior(fmt.Sprintf("other%d", i), Behavior{Answer: "x"})
			s.SetJudgeScores(map[string]float64{"a": 0.5})
		}()
		go func() {
			defer wg.Done()
			_ = s.Requests()
			_ = s.RequestsFor("m1")
		}()
	}
	wg.Wait()
	if got := len(s.Requests()); got != n {
		t.Fatalf("recorded %d requests, want %d", got, n)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
