package modelserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// ControlPrefix is where the control surface lives: a path the job never calls, so nothing the
// job sends can change the fake, and nothing the control surface receives is recorded.
const ControlPrefix = "/_fake/"

// BehaviorJSON is a Behavior on the control surface, in the words of the Python tests.
type BehaviorJSON struct {
	Model          string  `json:"model"`
	Answer         string  `json:"answer,omitempty"`
	Reasoning      string  `json:"reasoning,omitempty"`
	FailStatus     int     `json:"fail_status,omitempty"`
	FailFirst      int     `json:"fail_first,omitempty"`
	Stall          bool    `json:"stall,omitempty"`
	DelaySeconds   float64 `json:"delay_seconds,omitempty"`
	TotalTokens    int     `json:"total_tokens,omitempty"`
	ErrorBody      string  `json:"error_body,omitempty"`
	RedirectStatus int     `json:"redirect_status,omitempty"`
	RedirectTo     string  `json:"redirect_to,omitempty"`
	StreamBytes    int64   `json:"stream_bytes,omitempty"`
	AnnounceLength bool    `json:"announce_length,omitempty"`
}

func (b BehaviorJSON) behavior() Behavior {
	return Behavior{
		Stall: b.Stall, Delay: time.Duration(b.DelaySeconds * float64(time.Second)),
		FailStatus: b.FailStatus, FailFirst: b.FailFirst, ErrorBody: b.ErrorBody,
		RedirectStatus: b.RedirectStatus, RedirectTo: b.RedirectTo,
		StreamBytes: b.StreamBytes, AnnounceLength: b.AnnounceLength,
		Answer: b.Answer, Reasoning: b.Reasoning, TotalTokens: b.TotalTokens,
	}
}

// RequestJSON is a recorded request on the control surface: header names in lower case with
// their first value, the body as received, the arrival as Unix seconds.
type RequestJSON struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	At      float64           `json:"at"`
}

// StreamJSON is a streamed answer on the control surface.
type StreamJSON struct {
	Total     int64 `json:"total"`
	Sent      int64 `json:"sent"`
	Completed bool  `json:"completed"`
}

// handler routes the control surface and hands every other request to the fake as it came: a
// ServeMux would redirect the paths it cleans ("//v1", "/a/../v1"), which the job may well call.
func (s *Server) handler() http.Handler {
	control := s.control()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ControlPrefix) {
			control.ServeHTTP(w, r)
			return
		}
		s.serve(w, r)
	})
}

func (s *Server) control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ControlPrefix+"behavior", func(w http.ResponseWriter, r *http.Request) {
		var b BehaviorJSON
		if decode(w, r, &b) {
			s.SetBehavior(b.Model, b.behavior())
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST "+ControlPrefix+"judge/scores", func(w http.ResponseWriter, r *http.Request) {
		var scores map[string]float64
		if decode(w, r, &scores) {
			s.SetJudgeScores(scores)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST "+ControlPrefix+"judge/content", func(w http.ResponseWriter, r *http.Request) {
		var doc struct {
			Content string `json:"content"`
		}
		if decode(w, r, &doc) {
			s.SetJudgeContent(doc.Content)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST "+ControlPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+ControlPrefix+"requests", func(w http.ResponseWriter, _ *http.Request) {
		out := []RequestJSON{}
		for _, req := range s.Requests() {
			headers := make(map[string]string, len(req.Header))
			for name, values := range req.Header {
				headers[strings.ToLower(name)] = values[0]
			}
			at := float64(req.At.UnixNano()) / float64(time.Second)
			out = append(out, RequestJSON{req.Method, req.Path, headers, string(req.Body), at})
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	})
	mux.HandleFunc("GET "+ControlPrefix+"streams", func(w http.ResponseWriter, _ *http.Request) {
		out := []StreamJSON{}
		for _, st := range s.Streams() {
			out = append(out, StreamJSON(st))
		}
		writeJSON(w, http.StatusOK, map[string]any{"streams": out})
	})
	mux.HandleFunc(ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody("no control "+r.Method+" "+r.URL.Path, http.StatusNotFound))
	})
	return mux
}

// decode reads a control request's JSON body strictly, so a misspelt setting fails the test that
// sent it instead of being ignored; it answers 400 and returns false otherwise.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("control body: "+err.Error(), http.StatusBadRequest))
		return false
	}
	return true
}
