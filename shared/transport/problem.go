package transport

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// problem is an RFC 9457 problem detail. Errors is always present (empty when the problem is not
// about fields) so callers can iterate it without a nil check.
type problem struct {
	Type   string                    `json:"type"`
	Title  string                    `json:"title"`
	Status int                       `json:"status"`
	Detail string                    `json:"detail,omitempty"`
	Errors []deliberation.FieldError `json:"errors"`
	// DeliberationStatus names the terminal status a cancel conflicts with.
	DeliberationStatus deliberation.Status `json:"deliberation_status,omitempty"`

	retryAfter time.Duration
	allow      string
}

// codeProblem is how one application error code is answered.
type codeProblem struct {
	status     int
	slug       string
	title      string
	retryAfter time.Duration
}

// codeProblems is the one table from application error codes to HTTP answers. A conflict is 422,
// not 409: the only conflict is an idempotency key reused with another body, which a retry can
// never fix, and a Broker retries 409 but not 422.
var codeProblems = map[deliberation.Code]codeProblem{
	deliberation.CodeInvalid:      {http.StatusBadRequest, "invalid", "Invalid request", 0},
	deliberation.CodeUnauthorized: {http.StatusUnauthorized, "unauthorized", "Unauthorized", 0},
	deliberation.CodeNotFound:     {http.StatusNotFound, "not-found", "Not found", 0},
	deliberation.CodeConflict:     {http.StatusUnprocessableEntity, "conflict", "Idempotency key reused with another request", 0},
	deliberation.CodeTooMany:      {http.StatusTooManyRequests, "too-many", "Too many active deliberations", 10 * time.Second},
	deliberation.CodeUnavailable:  {http.StatusServiceUnavailable, "unavailable", "Service unavailable", 5 * time.Second},
	deliberation.CodeInternal:     {http.StatusInternalServerError, "internal", "Internal error", 0},
}

const problemTypePrefix = "urn:rayexecutor:problem:"

// retryWhileStarting is the Retry-After of the 503 answered before a function is wired.
const retryWhileStarting = time.Second

// Starting answers every request of a function that is not wired yet: 503 with a Retry-After.
var Starting http.HandlerFunc = func(w http.ResponseWriter, _ *http.Request) {
	p := protocolProblem(http.StatusServiceUnavailable, "starting", "the function is starting")
	p.retryAfter = retryWhileStarting
	p.write(w)
}

// problemOf answers an error of the use cases. Anything that is not an application error is
// internal: its details may hold internals, so the caller gets a generic text and the log the rest.
func problemOf(err error) problem {
	code := deliberation.ErrorCode(err)
	cp, ok := codeProblems[code]
	if !ok {
		cp, code = codeProblems[deliberation.CodeInternal], deliberation.CodeInternal
	}
	p := problem{Type: problemTypePrefix + cp.slug, Title: cp.title, Status: cp.status,
		Detail: deliberation.ErrorMessage(err), Errors: []deliberation.FieldError{}, retryAfter: cp.retryAfter}
	var e *deliberation.Error
	if code != deliberation.CodeInternal && errors.As(err, &e) && len(e.Fields) > 0 {
		p.Errors = e.Fields
	}
	if code == deliberation.CodeInternal {
		p.Detail = "internal error"
	}
	return p
}

// protocolProblem answers a request the transport refuses before any use case sees it.
func protocolProblem(status int, slug, detail string) problem {
	return problem{Type: problemTypePrefix + slug, Title: http.StatusText(status), Status: status,
		Detail: detail, Errors: []deliberation.FieldError{}}
}

func invalid(field, message string) error {
	return &deliberation.Error{Code: deliberation.CodeInvalid, Message: "invalid request",
		Fields: []deliberation.FieldError{{Field: field, Message: message}}}
}

func (p problem) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(p.retryAfter/time.Second)))
	}
	if p.allow != "" {
		h.Set("Allow", p.allow)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p) // the status line is out; a broken connection has nobody to tell
}

// fail answers err and logs it: internal errors with their cause at error level, outages at
// warn, and caller mistakes at debug (they are the caller's to fix, not the operator's).
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	h.logFailure(r.Context(), err, p.Status)
	p.write(w)
}

// logFailure logs an error answered with the HTTP status (or its RPC twin) at the level it deserves.
func (h *handlers) logFailure(ctx context.Context, err error, status int) {
	log := h.log.With("error", err.Error())
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		log.ErrorContext(ctx, "request failed")
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		log.WarnContext(ctx, "request refused")
	default:
		log.DebugContext(ctx, "request rejected")
	}
}

// writeJSON answers v as JSON; goccy/go-json writes encoding/json's bytes at about 3 times its speed.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
