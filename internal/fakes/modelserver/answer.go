package modelserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// serve records every request but the control surface's and answers it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("GET or POST only", http.StatusMethodNotAllowed))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("cannot read body", http.StatusBadRequest))
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now(), Body: body}
	decodeErr := json.Unmarshal(body, &req)
	// Recorded on arrival, so a stalled request is visible while it stalls.
	s.record(req)
	switch {
	case r.Method == http.MethodGet:
		// Only a client that followed a redirect sends one: it gets a usable answer, so a test
		// that sees a proposal knows the redirect was followed.
		writeJSON(w, http.StatusOK, completion("", "proposal fetched by GET", Behavior{}))
	case req.Path != ChatPath:
		writeJSON(w, http.StatusOK, map[string]any{})
	case decodeErr != nil:
		writeJSON(w, http.StatusBadRequest, errorBody("body is not a chat request", http.StatusBadRequest))
	default:
		s.chat(w, r, req)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, req Request) {
	t, count := s.next(req.Model)
	if t.Stall {
		select {
		case <-r.Context().Done():
		case <-t.release:
		case <-s.done:
		}
		// Dropping the connection, not an empty 200: a stalled server never answers.
		panic(http.ErrAbortHandler)
	}
	if t.Delay > 0 {
		timer := time.NewTimer(t.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-t.release:
			panic(http.ErrAbortHandler)
		case <-s.done:
			panic(http.ErrAbortHandler)
		}
	}
	switch {
	case t.FailStatus != 0 && (t.FailFirst == 0 || count <= t.FailFirst):
		if t.ErrorBody != "" {
			writeRaw(w, t.FailStatus, "text/plain", t.ErrorBody)
			return
		}
		writeJSON(w, t.FailStatus, errorBody("fake failure of "+req.Model, t.FailStatus))
	case t.RedirectStatus != 0:
		w.Header().Set("Location", t.RedirectTo)
		writeRaw(w, t.RedirectStatus, "text/plain", "moved")
	case t.StreamBytes > 0:
		s.recordStream(stream(w, t.StreamBytes, t.AnnounceLength))
	default:
		content, err := t.content(req)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody(err.Error(), http.StatusInternalServerError))
			return
		}
		writeJSON(w, http.StatusOK, completion(req.Model, content, t.Behavior))
	}
}

// content is the message an answer carries: the set answer, else the judge's, else the default.
func (t turn) content(req Request) (string, error) {
	switch {
	case t.Answer != "":
		return t.Answer, nil
	case req.IsJudge() && t.judgeContent != nil:
		return *t.judgeContent, nil
	case req.IsJudge():
		return judgeAnswer(req.JudgeAgentIDs(), t.scores)
	}
	return "proposal from " + req.Model, nil
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

// The streamed answer is a valid completion whose content is filler, so a client that reads it
// all gets a usable, huge answer: what its size bound must stop.
const (
	streamPrefix = `{"id":"chatcmpl-fake","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"`
	streamSuffix = `"},"finish_reason":"stop"}]}`
	streamChunk  = 1 << 20
)

var filler = bytes.Repeat([]byte("x"), streamChunk)

// stream writes a completion of total bytes (at least its frame) until done or the client leaves.
func stream(w http.ResponseWriter, total int64, announceLength bool) Stream {
	fill := max(0, total-int64(len(streamPrefix)+len(streamSuffix)))
	st := Stream{Total: int64(len(streamPrefix)+len(streamSuffix)) + fill}
	w.Header().Set("Content-Type", "application/json")
	// One answer per connection: what the client left unread must not be taken for the next one.
	w.Header().Set("Connection", "close")
	if announceLength {
		w.Header().Set("Content-Length", strconv.FormatInt(st.Total, 10))
	}
	w.WriteHeader(http.StatusOK)
	write := func(p []byte) bool {
		n, err := w.Write(p)
		st.Sent += int64(n)
		return err == nil
	}
	if !write([]byte(streamPrefix)) {
		return st
	}
	for left := fill; left > 0; left -= int64(streamChunk) {
		if !write(filler[:min(left, int64(streamChunk))]) {
			return st
		}
	}
	if !write([]byte(streamSuffix)) {
		return st
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	st.Completed = true
	return st
}

func errorBody(message string, status int) map[string]any {
	return map[string]any{"error": map[string]any{"message": message, "type": "fake_error", "code": status}}
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	// A client that gave up (a timeout under test) cannot be told anything more.
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A client that gave up (a timeout under test) cannot be told anything more.
	_ = json.NewEncoder(w).Encode(v)
}
