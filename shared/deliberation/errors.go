package deliberation

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies an error so transports can map it to a status code in one table.
type Code string

const (
	CodeInvalid      Code = "invalid"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeUnavailable  Code = "unavailable"
	CodeTooMany      Code = "too_many"
	CodeUnauthorized Code = "unauthorized"
	CodeInternal     Code = "internal"
)

// FieldError is one validation problem, with a path such as `agents[1].model`.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the application error: a code, a message for humans, field problems for CodeInvalid,
// and an optional cause kept for logs (never shown to callers).
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Cause   error
	// RetryAfter, for CodeTooMany, is when a retry can pass (a caller's rate); 0: the code's default.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, " (%v)", e.Cause)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an application error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps an infrastructure failure (Redis down, for instance) so callers may retry.
func Unavailable(cause error, format string, args ...any) *Error {
	return &Error{Code: CodeUnavailable, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// ErrorCode returns the code of an application error anywhere in err's chain, CodeInternal for any
// other error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the human message of an application error; other errors get a generic text
// because their details may hold internals that callers must not see.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// problems collects field errors so a constructor can report all of them at once.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: message, Fields: p}
}
