package transport

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Problem is an RFC 9457 problem detail. Errors is always present (empty when the problem is not
// about fields) so callers can iterate it without a nil check.
type Problem struct {
	Type   string                    `json:"type"`
	Title  string                    `json:"title"`
	Status int                       `json:"status"`
	Detail string                    `json:"detail,omitempty"`
	Errors []deliberation.FieldError `json:"errors"`
	// DeliberationStatus names the terminal status a cancel conflicts with.
	DeliberationStatus deliberation.Status `json:"deliberation_status,omitempty"`

	// RetryAfter and Allow are sent as headers.
	RetryAfter time.Duration `json:"-"`
	Allow      string        `json:"-"`
}

// codeProblem is how one application error code is answered.
type codeProblem struct {
	status     int
	slug       string
	title      string
	retryAfter time.Duration
}

// codeProblems is the one table from application error codes to HTTP answers; the RPC surface maps
// the same codes to its own statuses but counts and delays a call by this table. A conflict is
// 422, not 409: the only conflict is an idempotency key reused with another body, which a retry
// can never fix, and a Broker retries 409 but not 422.
var codeProblems = map[deliberation.Code]codeProblem{
	deliberation.CodeInvalid:      {http.StatusBadRequest, "invalid", "Invalid request", 0},
	deliberation.CodeUnauthorized: {http.StatusUnauthorized, "unauthorized", "Unauthorized", 0},
	deliberation.CodeNotFound:     {http.StatusNotFound, "not-found", "Not found", 0},
	deliberation.CodeConflict:     {http.StatusUnprocessableEntity, "conflict", "Idempotency key reused with another request", 0},
	deliberation.CodeTooMany:      {http.StatusTooManyRequests, "too-many", "Too many deliberations", 10 * time.Second},
	deliberation.CodeUnavailable:  {http.StatusServiceUnavailable, "unavailable", "Service unavailable", 5 * time.Second},
	deliberation.CodeInternal:     {http.StatusInternalServerError, "internal", "Internal error", 0},
}

const problemTypePrefix = "urn:rayexecutor:problem:"

// HTTPStatus is the HTTP status an application error code is answered with.
func HTTPStatus(code deliberation.Code) (int, bool) {
	cp, ok := codeProblems[code]
	return cp.status, ok
}

// ProblemOf answers an error of the use cases. Anything that is not an application error is
// internal: its details may hold internals, so the caller gets a generic text and the log the rest.
func ProblemOf(err error) Problem {
	code := deliberation.ErrorCode(err)
	cp, ok := codeProblems[code]
	if !ok {
		cp, code = codeProblems[deliberation.CodeInternal], deliberation.CodeInternal
	}
	p := Problem{Type: problemTypePrefix + cp.slug, Title: cp.title, Status: cp.status,
		Detail: deliberation.ErrorMessage(err), Errors: []deliberation.FieldError{}, RetryAfter: cp.retryAfter}
	var e *deliberation.Error
	if code != deliberation.CodeInternal && errors.As(err, &e) && len(e.Fields) > 0 {
		p.Errors = e.Fields
	}
	if code == deliberation.CodeInternal {
		p.Detail = "internal error"
	}
	if e != nil && e.RetryAfter > 0 && code == deliberation.CodeTooMany {
		p.RetryAfter = max(e.RetryAfter.Round(time.Second), time.Second) // Retry-After counts whole seconds
		if p.RetryAfter < e.RetryAfter {
			p.RetryAfter += time.Second
		}
	}
	return p
}

// ProtocolProblem answers a request the transport refuses before any use case sees it.
func ProtocolProblem(status int, slug, detail string) Problem {
	return Problem{Type: problemTypePrefix + slug, Title: http.StatusText(status), Status: status,
		Detail: detail, Errors: []deliberation.FieldError{}}
}

// Invalid is the invalid-input error about one field.
func Invalid(field, message string) error {
	return &deliberation.Error{Code: deliberation.CodeInvalid, Message: "invalid request",
		Fields: []deliberation.FieldError{{Field: field, Message: message}}}
}

// ErrUnauthorized answers a request without a valid bearer token, on every surface.
var ErrUnauthorized = deliberation.Errorf(deliberation.CodeUnauthorized, "a valid bearer token is required")

// Write answers p as problem+json, with its Retry-After and Allow headers.
func (p Problem) Write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(p.RetryAfter/time.Second)))
	}
	if p.Allow != "" {
		h.Set("Allow", p.Allow)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p) // the status line is out; a broken connection has nobody to tell
}
