package rayjobs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The kinds of failure a call can end in; test with errors.Is.
var (
	// ErrNotFound: Ray has no such job or package (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a job with this submission id exists (Ray answers HTTP 500 for it).
	ErrAlreadyExists = errors.New("submission id already exists")
	// ErrNotTerminal: the job cannot be deleted while it is pending or running.
	ErrNotTerminal = errors.New("job is not terminal")
	// ErrUnauthorized: Ray refused the credentials (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: Ray did not answer usefully (connection error, timeout, 5xx, breaker open);
	// the same call may succeed later.
	ErrUnavailable = errors.New("unavailable")
	// ErrRejected: Ray refused the request itself (another 4xx); repeating it will not help.
	ErrRejected = errors.New("rejected")
	// ErrProtocol: Ray answered 2xx with a body this client cannot read.
	ErrProtocol = errors.New("unreadable answer")
	// ErrInvalidArgument: the call was refused before reaching Ray (an id unsafe in a URL, say).
	ErrInvalidArgument = errors.New("invalid argument")
)

// Error is a failed call: which operation, Ray's HTTP status (0 when there was no answer), a short
// detail (the telling line of Ray's text body, never the whole body) and its kind.
type Error struct {
	Op     string
	Status int
	Detail string
	kind   error
	cause  error
	// callerGone marks a failure caused by the caller's own context ending: it says nothing about
	// Ray's health, so the breaker ignores it.
	callerGone bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ray %s: %v", e.Op, e.kind)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Is matches the kind sentinels, so errors.Is(err, rayjobs.ErrNotFound) works through wrapping.
func (e *Error) Is(target error) bool { return target == e.kind }

func (e *Error) Unwrap() error { return e.cause }

const (
	duplicateText   = "Please use a different submission_id"
	nonTerminalText = "non-terminal state"
	maxDetail       = 200
)

// classify turns a non-2xx answer into an Error. The real server answers a duplicate submission
// id with 500 and the delete of a running job with 500 too (the published spec says 400): both are
// recognised by their text before the status decides, so neither trips the breaker.
func classify(op string, status int, body string) *Error {
	e := &Error{Op: op, Status: status, Detail: summarize(body)}
	switch {
	case status >= 500 && strings.Contains(body, duplicateText):
		e.kind = ErrAlreadyExists
	case (status == 400 || status >= 500) && strings.Contains(body, nonTerminalText):
		e.kind = ErrNotTerminal
	case status == 404:
		e.kind = ErrNotFound
	case status == 401 || status == 403:
		e.kind = ErrUnauthorized
	case status >= 500 || status == 408 || status == 429:
		e.kind = ErrUnavailable
	default:
		e.kind = ErrRejected
	}
	return e
}

// exceptionLine matches the line of a Python traceback that names the exception.
var exceptionLine = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Exit|Interrupt): `)

// summarize keeps one short line of an error body: Ray's bodies are often whole Python tracebacks
// (nested ones, too), whose first line says nothing and whose last exception line says what
// happened.
func summarize(body string) string {
	lines := strings.Split(strings.TrimSpace(body), "\n")
	line := lines[0]
	if strings.HasPrefix(line, "Traceback") {
		for i := len(lines) - 1; i >= 0; i-- {
			if exceptionLine.MatchString(lines[i]) {
				line = lines[i]
				break
			}
		}
	}
	return truncate(strings.TrimSpace(line), maxDetail)
}

// truncate cuts s to n bytes, without splitting a UTF-8 sequence, and marks the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
