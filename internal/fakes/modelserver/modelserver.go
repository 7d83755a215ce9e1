// Package modelserver is a test fake of the OpenAI-compatible model server (vLLM) that the
// deliberation job calls: no real model server can run in tests here. End-to-end tests run the
// real job on a real local Ray against it, so it listens on 127.0.0.1 (httptest), answers
// POST /v1/chat/completions with behaviours set per model (answer, fail with a status always or
// the first K times, stall, delay), answers judge calls (those with a response_format) with
// scores, and records every request for assertions. Any other POST (such as the job's wake-up
// CloudEvent) is recorded and answered 200. It is safe for concurrent use.
package modelserver

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

// ChatPath is where the job sends chat completions.
const ChatPath = "/v1/chat/completions"

// maxBody bounds what the fake reads of a request; the job's largest (a judge call) is far below.
const maxBody = 8 << 20

// Behavior is how the fake answers one model. The zero value answers "proposal from <model>"
// (or, for a judge call, the judge's scores) at once.
type Behavior struct {
	// Answer is the message content; empty means the default answer.
	Answer string
	// Reasoning, when set, is returned as the message's reasoning_content.
	Reasoning string
	// FailStatus, when non-zero, is the status of failed answers.
	FailStatus int
	// FailFirst limits failures to the first K requests for the model; 0 fails every request.
	FailFirst int
	// Stall never answers: the request waits until the client gives up or the test ends.
	Stall bool
	// Delay is waited before answering (or failing).
	Delay time.Duration
	// TotalTokens is reported as usage.total_tokens; 0 means 42.
	TotalTokens int
}

// Message is one chat message of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one recorded request, decoded for assertions.
type Request struct {
	Path           string
	Header         http.Header
	At             time.Time
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	Temperature    *float64        `json:"temperature"`
	MaxTokens      *int            `json:"max_tokens"`
	ResponseFormat json.RawMessage `json:"response_format"`
	// Body is the request body as received.
	Body json.RawMessage
}

// IsJudge tells a judge call (it asks for a response_format) from an agent's call.
func (r Request) IsJudge() bool { return len(r.ResponseFormat) > 0 }

// Message returns the content of the first message with role, or "".
func (r Request) Message(role string) string {
	for _, m := range r.Messages {
		if m.Role == role {
			return m.Content
		}
	}
	return ""
}

var promptAgentID = regexp.MustCompile(`agent_id="([^"]+)"`)

// JudgeAgentIDs returns the agent ids a judge call asks scores for: the enum of its JSON
// schema, or else the agent_id="..." markers of its prompt, in order.
func (r Request) JudgeAgentIDs() []string {
	var format struct {
		JSONSchema struct {
			Schema struct {
				Properties struct {
					Scores struct {
						Items struct {
							Properties struct {
								AgentID struct {
									Enum []string `json:"enum"`
								} `json:"agent_id"`
							} `json:"properties"`
						} `json:"items"`
					} `json:"scores"`
				} `json:"properties"`
			} `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(r.ResponseFormat, &format); err == nil {
		if ids := format.JSONSchema.Schema.Properties.Scores.Items.Properties.AgentID.Enum; len(ids) > 0 {
			return ids
		}
	}
	var ids []string
	for _, m := range promptAgentID.FindAllStringSubmatch(r.Message("user"), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// Server is the fake. Configure it before or while the job runs; every setter is safe to call
// concurrently with requests.
type Server struct {
	srv  *httptest.Server
	done chan struct{}

	mu           sync.Mutex
	behaviors    map[string]Behavior
	counts       map[string]int
	judgeScores  map[string]float64
	judgeContent *string
	requests     []Request
}

// New starts a fake on 127.0.0.1 and stops it when the test ends, releasing stalled requests.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{done: make(chan struct{}), behaviors: map[string]Behavior{}, counts: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

// URL is the base URL to pass as vllm_url.
func (s *Server) URL() string { return s.srv.URL }

// SetBehavior sets how model is answered from now on.
func (s *Server) SetBehavior(model string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[model] = b
}

// SetJudgeScores makes judge calls answer these scores (agents missing from the map are left out
// of the answer). By default every asked agent is scored 0.9, 0.8, ... in the judge's order.
func (s *Server) SetJudgeScores(scores map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.judgeScores = make(map[string]float64, len(scores))
	for id, v := range scores {
		s.judgeScores[id] = v
	}
}

// SetJudgeContent makes judge calls answer this raw content (garbage, out-of-range scores).
func (s *Server) SetJudgeContent(content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.judgeContent = &content
}

// Requests returns a copy of every request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsFor returns the chat requests for model, judge calls included.
func (s *Server) RequestsFor(model string) []Request {
	return s.filter(func(r Request) bool { return r.Path == ChatPath && r.Model == model })
}

// JudgeRequests returns the judge calls.
func (s *Server) JudgeRequests() []Request {
	return s.filter(func(r Request) bool { return r.Path == ChatPath && r.IsJudge() })
}

// Events returns the requests to any path other than ChatPath, such as the job's wake-up.
func (s *Server) Events() []Request {
	return s.filter(func(r Request) bool { return r.Path != ChatPath })
}

func (s *Server) filter(keep func(Request) bool) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("POST only", http.StatusMethodNotAllowed))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("cannot read body", http.StatusBadRequest))
		return
	}
	req := Request{Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now(), Body: body}
	decodeErr := json.Unmarshal(body, &req)
	// Recorded on arrival, so a stalled request is visible while it stalls.
	s.record(req)
	if req.Path != ChatPath {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	if decodeErr != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("body is not a chat request", http.StatusBadRequest))
		return
	}
	s.chat(w, r, req)
}

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

// next counts a request for model and returns what it should get.
func (s *Server) next(model string) (b Behavior, count int, scores map[string]float64, content *string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[model]++
	return s.behaviors[model], s.counts[model], s.judgeScores, s.judgeContent
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, req Request) {
	b, count, scores, judgeContent := s.next(req.Model)
	if b.Stall {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Dropping the connection, not an empty 200: a stalled server never answers.
		panic(http.ErrAbortHandler)
	}
	if b.Delay > 0 {
		timer := time.NewTimer(b.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-s.done:
			panic(http.ErrAbortHandler)
		}
	}
	if b.FailStatus != 0 && (b.FailFirst == 0 || count <= b.FailFirst) {
		writeJSON(w, b.FailStatus, errorBody("fake failure of "+req.Model, b.FailStatus))
		return
	}
	content := b.Answer
	switch {
	case content != "":
	case req.IsJudge() && judgeContent != nil:
		content = *judgeContent
	case req.IsJudge():
		var err error
		if content, err = judgeAnswer(req.JudgeAgentIDs(), scores); err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody(err.Error(), http.StatusInternalServerError))
			return
		}
	default:
		content = "proposal from " + req.Model
	}
	writeJSON(w, http.StatusOK, completion(req.Model, content, b))
}

// DefaultScores is what the judge answers unless told otherwise: 0.9, 0.8, ... in order, then 0.
func DefaultScores(agentIDs []string) map[string]float64 {
	scores := make(map[string]float64, len(agentIDs))
	for i, id := range agentIDs {
		scores[id] = math.Max(0, math.Round((0.9-0.1*float64(i))*100)/100)
	}
	return scores
}

// judgeAnswer fails only for scores JSON cannot carry (NaN, infinities); use SetJudgeContent
// to make the judge answer invalid output.
func judgeAnswer(agentIDs []string, scores map[string]float64) (string, error) {
	if scores == nil {
		scores = DefaultScores(agentIDs)
	}
	type score struct {
		AgentID   string  `json:"agent_id"`
		Score     float64 `json:"score"`
		Rationale string  `json:"rationale"`
	}
	answer := struct {
		Scores []score `json:"scores"`
	}{Scores: []score{}}
	for _, id := range agentIDs {
		if v, ok := scores[id]; ok {
			answer.Scores = append(answer.Scores, score{AgentID: id, Score: v, Rationale: "fake rationale " + id})
		}
	}
	data, err := json.Marshal(answer)
	if err != nil {
		return "", fmt.Errorf("modelserver: judge scores: %w", err)
	}
	return string(data), nil
}

func completion(model, content string, b Behavior) map[string]any {
	tokens := b.TotalTokens
	if tokens == 0 {
		tokens = 42
	}
	message := map[string]any{"role": "assistant", "content": content}
	if b.Reasoning != "" {
		message["reasoning_content"] = b.Reasoning
	}
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []any{map[string]any{"index": 0, "message": message, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": 10, "completion_tokens": max(tokens-10, 0), "total_tokens": tokens},
	}
}

func errorBody(message string, status int) map[string]any {
	return map[string]any{"error": map[string]any{"message": message, "type": "fake_error", "code": status}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A client that gave up (a timeout under test) cannot be told anything more.
	_ = json.NewEncoder(w).Encode(v)
}
