// Package modelserver is the one fake of the OpenAI-compatible model server (vLLM) that the
// deliberation job calls, for the Go tests and (through cmd/fakemodel) the Python ones: no real
// model server can run in tests here. It listens on 127.0.0.1, answers POST /v1/chat/completions
// with behaviours set per model (answer, fail with a status always or the first K times and a JSON
// or raw error body, stall, delay, redirect, stream a huge answer), answers judge calls (those with
// a response_format) with scores, and records every request on arrival. Any other POST (such as
// the job's wake-up CloudEvent) is recorded and answered 200; a GET (what a client makes of a
// followed 301, 302 or 303) is recorded and answered with a completion, so a test sees whether a
// redirect was followed. Under /_fake/ an HTTP control surface sets behaviours, reads the
// recordings and resets, for a test in another process. It is safe for concurrent use.
package modelserver

import (
	"encoding/json"
	"net"
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
// (or, for a judge call, the judge's scores) at once. The steps apply in the order of the fields:
// a stall never gets further, a failure comes after the delay, and so on.
type Behavior struct {
	// Stall never answers: the request waits until the client gives up, a reset or the end.
	Stall bool
	// Delay is waited before answering (or failing).
	Delay time.Duration
	// FailStatus, when non-zero, is the status of failed answers.
	FailStatus int
	// FailFirst limits failures to the first K requests for the model; 0 fails every request.
	FailFirst int
	// ErrorBody, when set, is a failure's body, sent raw as text/plain instead of the JSON error.
	ErrorBody string
	// RedirectStatus, when non-zero, answers a redirect of this status to RedirectTo.
	RedirectStatus int
	// RedirectTo is the Location of the redirect, sent as written (relative or absolute).
	RedirectTo string
	// StreamBytes, when positive, answers a valid completion of this many bytes whose content is
	// all "x", written in chunks, and records how much of it could be sent (Streams).
	StreamBytes int64
	// AnnounceLength sends the streamed answer with a Content-Length; else it ends when closed.
	AnnounceLength bool
	// Answer is the message content; empty means the default answer.
	Answer string
	// Reasoning, when set, is returned as the message's reasoning_content.
	Reasoning string
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
	Method         string
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

// Stream is one streamed answer: how much of it the fake could write before the client went away.
type Stream struct {
	Total, Sent int64
	Completed   bool
}

// Server is the fake. Configure it before or while the job runs; every setter is safe to call
// concurrently with requests.
type Server struct {
	srv  *httptest.Server
	done chan struct{} // closed by Close: every stalled request lets go, whenever it came

	mu           sync.Mutex
	release      chan struct{} // closed by Reset: the stalled requests of before let go
	behaviors    map[string]Behavior
	counts       map[string]int
	judgeScores  map[string]float64
	judgeContent *string
	requests     []Request
	streams      []Stream
}

// New starts a fake on 127.0.0.1 and stops it when the test ends, releasing stalled requests.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("modelserver: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen starts a fake on addr (a loopback address: the fake has no authentication, and its
// control surface changes what it answers); Close stops it.
func Listen(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{done: make(chan struct{})}
	s.clear()
	s.srv = httptest.NewUnstartedServer(s.handler())
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// Close releases the stalled requests and stops the fake.
func (s *Server) Close() {
	close(s.done)
	s.srv.Close()
}

// URL is the base URL to pass as vllm_url.
func (s *Server) URL() string { return s.srv.URL }

// Reset forgets behaviours, judge settings, counts and recordings, and releases the stalled
// requests: the fake answers as if new.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.release)
	s.clear()
}

// clear sets the initial state; the caller holds mu (or owns s alone).
func (s *Server) clear() {
	s.release = make(chan struct{})
	s.behaviors, s.counts = map[string]Behavior{}, map[string]int{}
	s.judgeScores, s.judgeContent = nil, nil
	s.requests, s.streams = nil, nil
}

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

// Streams returns the streamed answers that have ended, in the order they ended.
func (s *Server) Streams() []Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Stream(nil), s.streams...)
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

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

func (s *Server) recordStream(st Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams = append(s.streams, st)
}

// next counts a request for model and returns what it should get.
func (s *Server) next(model string) (turn, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[model]++
	return turn{s.behaviors[model], s.judgeScores, s.judgeContent, s.release}, s.counts[model]
}

// turn is what one request gets, read at once so a concurrent setter cannot split it.
type turn struct {
	Behavior
	scores       map[string]float64
	judgeContent *string
	release      <-chan struct{}
}
